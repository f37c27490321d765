/* The pieces of mod_wsgi-rs written in C: APR's bucket-brigade macros
 * (APR_BRIGADE_INSERT_TAIL) have no function form for bindgen to bind. */
#include <httpd.h>
#include <http_protocol.h>
#include <http_request.h>
#include <http_core.h>
#include <util_filter.h>
#include <apr_buckets.h>
#include <sys/uio.h>

/* The request's one brigade for what we pass down the filters, made on
 * first use and emptied after each pass: a brigade made per write stays
 * in the request pool until the request ends, which an hours-long stream
 * of small writes would grow without bound. */
static apr_bucket_brigade *request_brigade(request_rec *r)
{
    void *bb = NULL;
    apr_pool_userdata_get(&bb, "mod_wsgi_rs.bb", r->pool);
    if (bb == NULL) {
        bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
        apr_pool_userdata_setn(bb, "mod_wsgi_rs.bb", NULL, r->pool);
    }
    return bb;
}

/* Ends a response whose headers already went out but whose body cannot be
 * completed, the way mod_proxy treats a backend that broke: the error
 * bucket tells the chunking filter not to write the last chunk, so the
 * client sees a cut response instead of a short one that looks complete. */
void mod_wsgi_rs_abort_response(request_rec *r)
{
    conn_rec *c = r->connection;
    apr_bucket_brigade *bb = request_brigade(r);
    apr_bucket *e = ap_bucket_error_create(HTTP_BAD_GATEWAY, NULL, r->pool, c->bucket_alloc);
    APR_BRIGADE_INSERT_TAIL(bb, e);
    e = apr_bucket_eos_create(c->bucket_alloc);
    APR_BRIGADE_INSERT_TAIL(bb, e);
    r->no_cache = 1;
    c->keepalive = AP_CONN_CLOSE;
    ap_pass_brigade(r->output_filters, bb);
    apr_brigade_cleanup(bb);
}

/* What follows the pieces mod_wsgi_rs_write_pieces passes (request.rs
 * mirrors these). */
#define MOD_WSGI_RS_KEEP 0  /* nothing: Apache may hold small pieces */
#define MOD_WSGI_RS_FLUSH 1 /* a flush bucket: write them now */
#define MOD_WSGI_RS_END 2   /* the end of the body, then a flush */

/* Passes `n` pieces of memory down the output filters in one brigade (so
 * they go out as one chunk and one write), followed by what `then` asks.
 * The end of the body is an EOS last in the brigade (so the filters see
 * the whole body, Content-Length included, and Apache sends no second
 * EOS), then a flush down the connection's filters: the response leaves
 * before Apache checks for the client's next request, which a quick
 * keep-alive client has often sent by then, so the same worker takes it
 * without a trip through the listener. The buckets are transient: a
 * filter that keeps one copies it, so the memory may be reused once this
 * returns. Returns 0 or an APR error. */
int mod_wsgi_rs_write_pieces(request_rec *r, const struct iovec *iov, int n, int then)
{
    conn_rec *c = r->connection;
    apr_bucket_brigade *bb = request_brigade(r);
    apr_status_t rv;
    int i;
    for (i = 0; i < n; i++) {
        apr_bucket *e = apr_bucket_transient_create(iov[i].iov_base, iov[i].iov_len, c->bucket_alloc);
        APR_BRIGADE_INSERT_TAIL(bb, e);
    }
    if (then == MOD_WSGI_RS_FLUSH) {
        APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_flush_create(c->bucket_alloc));
    } else if (then == MOD_WSGI_RS_END) {
        APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(c->bucket_alloc));
    }
    rv = ap_pass_brigade(r->output_filters, bb);
    apr_brigade_cleanup(bb);
    if (rv == APR_SUCCESS && then == MOD_WSGI_RS_END) {
        APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_flush_create(c->bucket_alloc));
        rv = ap_pass_brigade(c->output_filters, bb);
    }
    apr_brigade_cleanup(bb);
    return rv;
}

/* What the request's EnableSendfile says (Apache's default is Off): a file
 * handed to Apache is opened for sendfile(2) only when it is On. */
int mod_wsgi_rs_sendfile_enabled(request_rec *r)
{
    core_dir_config *d = ap_get_core_module_config(r->per_dir_config);
    return d->enable_sendfile == ENABLE_SENDFILE_ON;
}

/* Sends `len` bytes of `fd` from `offset` as a file bucket, mmap'able as
 * the request's EnableMMAP says (never when `may_mmap` is 0: a file
 * another process may truncate), the way Apache's own static files go.
 * Returns 0 or an APR error. */
int mod_wsgi_rs_send_file(request_rec *r, apr_file_t *fd, apr_off_t offset, apr_size_t len,
                          int may_mmap)
{
    core_dir_config *d = ap_get_core_module_config(r->per_dir_config);
    apr_bucket_brigade *bb = request_brigade(r);
    apr_bucket *e = apr_brigade_insert_file(bb, fd, offset, len, r->pool);
    apr_status_t rv;
#if APR_HAS_MMAP
    if (!may_mmap || d->enable_mmap == ENABLE_MMAP_OFF) {
        (void)apr_bucket_file_enable_mmap(e, 0);
    }
#else
    (void)e;
    (void)may_mmap;
#endif
    rv = ap_pass_brigade(r->output_filters, bb);
    apr_brigade_cleanup(bb);
    return rv;
}
