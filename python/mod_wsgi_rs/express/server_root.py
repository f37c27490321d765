"""The server root and the other directories mod_wsgi-express writes into
are ours alone: made by the invoking user with no write bit for anyone
else, refused when they already exist in any other shape. apachectl
sources files from the server root and Apache (often as root) opens its
logs and pid file there, so a directory another user could write, or
plant a symlink in, would run their code as whoever starts the server."""

import os
import stat

from .options import OptionError


def _shape_problem(path, st):
    """Why an existing directory is not safe to write our files into."""
    if stat.S_ISLNK(st.st_mode):
        return 'is a symbolic link'
    if not stat.S_ISDIR(st.st_mode):
        return 'is not a directory'
    if st.st_uid != os.getuid():
        return 'belongs to uid %d, not to uid %d who runs this' % (
            st.st_uid, os.getuid())
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return 'is writable by users other than its owner (mode %o)' % (
            st.st_mode & 0o7777)
    return None


def own_directory(path, option, serving_gid=None):
    """Makes `path` (mode 0700; 0710 with group `serving_gid` when the
    server's own account must reach into it), or checks that the one
    already there is a directory of ours that nobody else can write.
    `option` names the command-line option that chooses another place."""
    parent = os.path.dirname(path)
    if parent and not os.path.isdir(parent):
        os.makedirs(parent, exist_ok=True)
    created = False
    try:
        os.mkdir(path, 0o700)
        created = True
    except FileExistsError:
        pass
    except OSError as e:
        raise OptionError('cannot create %s: %s (give %s)'
                          % (path, e.strerror, option)) from None
    st = os.lstat(path)
    why = _shape_problem(path, st)
    if why:
        raise OptionError('%s %s: refusing to use it; remove it or give %s'
                          % (path, why, option))
    if created and serving_gid is not None:
        # Search only: the server's account opens files here by name.
        os.chown(path, -1, serving_gid, follow_symlinks=False)
        os.chmod(path, 0o710)


def write_file(path, text, mode=0o644):
    """Writes `path` whole through a new temporary file beside it, then
    renames: nothing already there (a symlink included) is followed or
    truncated in place."""
    tmp = '%s.%d.%s.tmp' % (path, os.getpid(), os.urandom(4).hex())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                 | os.O_CLOEXEC, mode)
    try:
        with os.fdopen(fd, 'w') as f:
            f.write(text)
            os.fchmod(f.fileno(), mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def is_own_regular_file(path):
    """Whether `path` is a regular file of ours (not a symlink): one we
    keep as it is (envvars, rewrite.conf)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid():
        raise OptionError('%s is not a regular file of uid %d: refusing to '
                          'keep it; remove it' % (path, os.getuid()))
    return True
