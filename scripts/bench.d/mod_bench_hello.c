/* The in-Apache ceiling for scripts/bench: the benchmark app's scenarios
 * answered by a minimal C handler (SetHandler bench-hello), with the same
 * bytes as scripts/bench.d/app.wsgi. Built with apxs by scripts/bench;
 * never loaded outside benchmarks. */
#include "httpd.h"
#include "http_config.h"
#include "http_protocol.h"
#include "apr_strings.h"
#include "apr_time.h"

static int read_all(request_rec *r, apr_off_t *total)
{
    char buf[65536];
    long n;
    int rc = ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK);
    if (rc != OK)
        return rc;
    *total = 0;
    if (ap_should_client_block(r))
        while ((n = ap_get_client_block(r, buf, sizeof buf)) > 0)
            *total += n;
    return OK;
}

static int bench_handler(request_rec *r)
{
    static char chunk[16384];
    if (!r->handler || strcmp(r->handler, "bench-hello") != 0)
        return DECLINED;
    if (strcmp(r->uri, "/hello") == 0) {
        ap_set_content_type(r, "text/plain");
        ap_set_content_length(r, 12);
        ap_rputs("Hello World!", r);
    } else if (strcmp(r->uri, "/echo64k") == 0) {
        apr_off_t total;
        int rc = read_all(r, &total);
        if (rc != OK)
            return rc;
        const char *body = apr_off_t_toa(r->pool, total);
        ap_set_content_type(r, "text/plain");
        ap_set_content_length(r, strlen(body));
        ap_rputs(body, r);
    } else if (strcmp(r->uri, "/stream1m") == 0) {
        int i;
        memset(chunk, 'x', sizeof chunk);
        ap_set_content_type(r, "application/octet-stream");
        for (i = 0; i < 64; i++) {
            ap_rwrite(chunk, sizeof chunk, r);
            ap_rflush(r);
        }
    } else if (strcmp(r->uri, "/sleep10ms") == 0) {
        apr_sleep(apr_time_from_msec(10));
        ap_set_content_type(r, "text/plain");
        ap_set_content_length(r, 2);
        ap_rputs("ok", r);
    } else if (strcmp(r->uri, "/file1m") == 0) {
        apr_file_t *f;
        apr_size_t sent;
        apr_finfo_t info;
        const char *path = ap_server_root_relative(r->pool, "file1m.bin");
        if (apr_file_open(&f, path, APR_READ | APR_SENDFILE_ENABLED, 0, r->pool) != APR_SUCCESS
            || apr_file_info_get(&info, APR_FINFO_SIZE, f) != APR_SUCCESS)
            return HTTP_INTERNAL_SERVER_ERROR;
        ap_set_content_type(r, "application/octet-stream");
        ap_set_content_length(r, info.size);
        ap_send_fd(f, r, 0, info.size, &sent);
    } else {
        return HTTP_NOT_FOUND;
    }
    return OK;
}

static void register_hooks(apr_pool_t *p)
{
    ap_hook_handler(bench_handler, NULL, NULL, APR_HOOK_MIDDLE);
}

module AP_MODULE_DECLARE_DATA bench_hello_module = {
    STANDARD20_MODULE_STUFF, NULL, NULL, NULL, NULL, NULL, register_hooks
};
