"""The PEP 517 build backend of the Python distribution mod-wsgi-rs.

A wheel holds the Apache module built (by cargo) for the Python that runs
this backend, the mod_wsgi_rs package (python/) and the mod_wsgi-express
command: mod_wsgi_rs-<version>-cp3X-cp3X-manylinux_2_N_<arch>.whl. An sdist is the
source tree; installing it builds the module, which needs Apache's
development files and a Rust toolchain (a clear error where they are not).

Standard library only: no build requirement to download."""

import base64
import glob
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile

NAME = 'mod_wsgi_rs'
SUMMARY = ('Apache httpd 2.4 module hosting Python WSGI applications, a '
           'drop-in for mod_wsgi, with mod_wsgi-express')
ENTRY_POINTS = '[console_scripts]\nmod_wsgi-express = mod_wsgi_rs.express.cli:main\n'
# What the sdist leaves out: build output and caches.
SKIP = re.compile(r'^(target|dist|fuzz/target|fuzz/corpus|fuzz/artifacts)(/|$)'
                  r'|(^|/)(__pycache__|\.git)(/|$)')


class BuildError(Exception):
    pass


def _version():
    with open('Cargo.toml') as f:
        for line in f:
            m = re.match(r'^version = "(.+)"$', line.strip())
            if m:
                return m.group(1)
    raise BuildError('no version in Cargo.toml')


def _glibc_needed(so):
    """The newest GLIBC_2.N symbol version the module needs (readelf -V),
    or None."""
    try:
        out = subprocess.run(['readelf', '-V', '--wide', so], capture_output=True,
                             text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    minors = [int(m) for m in re.findall(r'Name: GLIBC_2\.(\d+)', out)]
    return max(minors) if minors else None


def _tag(so):
    """The wheel's tags. The platform is manylinux_2_N for the glibc the
    module needs (it links nothing else but libgcc_s, libm and libc, and no
    libpython), so pip takes it on any Linux with that glibc or newer."""
    nodot = sysconfig.get_config_var('py_version_nodot')
    abi = 'cp' + nodot + ('t' if sysconfig.get_config_var('Py_GIL_DISABLED') else '')
    plat = sysconfig.get_platform().replace('-', '_').replace('.', '_')
    minor = _glibc_needed(so)
    if minor is not None and plat.startswith('linux_'):
        plat = 'manylinux_2_%d_%s' % (minor, plat[len('linux_'):])
    return 'cp%s' % nodot, abi, plat


def _metadata(version, for_wheel):
    # A wheel's module links one Python; the source builds for any 3.10+.
    pin = '==%d.%d.*' % sys.version_info[:2] if for_wheel else '>=3.10'
    return ('Metadata-Version: 2.1\nName: mod-wsgi-rs\nVersion: %s\n'
            'Summary: %s\nLicense: Apache-2.0\nRequires-Python: %s\n'
            'Classifier: Programming Language :: Python :: 3\n'
            'Classifier: Operating System :: POSIX :: Linux\n'
            % (version, SUMMARY, pin))


def _which(tool):
    found = shutil.which(tool)
    if not found and tool == 'cargo':
        home = os.path.expanduser('~/.cargo/bin/cargo')
        found = home if os.access(home, os.X_OK) else None
    return found


def _check_tools():
    missing = []
    if not _which('cargo'):
        missing.append('a Rust toolchain 1.85 or newer (cargo; see rustup.rs)')
    if not _which('apxs'):
        missing.append("Apache's development files (apxs: apt install apache2-dev)")
    if not glob.glob('/usr/lib/llvm-*/lib/libclang*.so*') and \
            not glob.glob('/usr/lib/*/libclang*.so*') and \
            not os.environ.get('LIBCLANG_PATH'):
        missing.append('libclang, for bindgen (apt install libclang-dev)')
    if missing:
        raise BuildError('building mod-wsgi-rs from source needs ' +
                         '; '.join(missing) + '. Or install a wheel built '
                         'for this Python (scripts/package wheel).')


def _apxs(name):
    out = subprocess.run(['apxs', '-q', name], capture_output=True, text=True)
    return out.stdout.strip()


def _build_module():
    """cargo build --release for this Python; the module's path."""
    _check_tools()
    env = dict(os.environ)
    env['PYO3_PYTHON'] = sys.executable
    # No libpython linked and no rpath: the wheel loads in a virtualenv of
    # any installation of this Python version, whose libpython
    # mod_wsgi-express names with LoadFile (build.rs).
    env['PYO3_BUILD_EXTENSION_MODULE'] = '1'
    env['MOD_WSGI_RS_NO_RPATH'] = '1'
    # A directory of its own even under a given CARGO_TARGET_DIR: this
    # build (no libpython linked) must not replace the module the test
    # suites load from that directory.
    target = os.path.join(env.get('CARGO_TARGET_DIR') or 'target',
                          'wheel-py%d.%d' % sys.version_info[:2])
    env['CARGO_TARGET_DIR'] = target
    cargo = _which('cargo')
    print('mod-wsgi-rs: cargo build --release (CARGO_TARGET_DIR=%s, Python %s)'
          % (target, sys.executable), file=sys.stderr)
    done = subprocess.run([cargo, 'build', '--release', '--lib'], env=env,
                          stdout=sys.stderr)
    if done.returncode != 0:
        raise BuildError('cargo build failed (exit %d); its output is above'
                         % done.returncode)
    so = os.path.join(target, 'release', 'libmod_wsgi_rs.so')
    stripped = so + '.stripped'
    shutil.copyfile(so, stripped)
    subprocess.run(['strip', '--strip-unneeded', stripped], check=False)
    return stripped


def _build_facts():
    sbin, tgt = _apxs('SBINDIR'), _apxs('TARGET')
    facts = {'httpd': os.path.join(sbin, tgt), 'modules_directory':
             _apxs('LIBEXECDIR'), 'mime_types': '/etc/mime.types'}
    return '"""Written by the build: the Apache this module was built for."""\n' \
        'FACTS = %r\n' % facts


class _Wheel:
    def __init__(self, path):
        self.zip = zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED)
        self.records = []

    def add(self, arcname, data, mode=0o644):
        info = zipfile.ZipInfo(arcname, date_time=(2020, 1, 1, 0, 0, 0))
        info.external_attr = (0o100000 | mode) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        self.zip.writestr(info, data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest())
        self.records.append('%s,sha256=%s,%d' % (
            arcname, digest.rstrip(b'=').decode(), len(data)))

    def close(self, record_name):
        self.records.append('%s,,' % record_name)
        self.zip.writestr(zipfile.ZipInfo(record_name, (2020, 1, 1, 0, 0, 0)),
                          '\n'.join(self.records) + '\n')
        self.zip.close()


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    try:
        version = _version()
        so = _build_module()
    except BuildError as e:
        sys.exit('mod-wsgi-rs: %s' % e)
    py, abi, plat = _tag(so)
    name = '%s-%s-%s-%s-%s.whl' % (NAME, version, py, abi, plat)
    # An older wheel of the same version and Python (another platform tag)
    # would be taken for this one.
    for old in glob.glob(os.path.join(wheel_directory, '%s-%s-%s-%s-*.whl'
                                      % (NAME, version, py, abi))):
        os.remove(old)
    wheel = _Wheel(os.path.join(wheel_directory, name))
    for path in sorted(glob.glob('python/mod_wsgi_rs/**/*.py', recursive=True)):
        with open(path, 'rb') as f:
            wheel.add(os.path.relpath(path, 'python'), f.read())
    wheel.add('mod_wsgi_rs/server/_build.py', _build_facts().encode())
    with open(so, 'rb') as f:
        wheel.add('mod_wsgi_rs/server/mod_wsgi_rs.so', f.read(), 0o755)
    info = '%s-%s.dist-info' % (NAME, version)
    wheel.add(info + '/METADATA', _metadata(version, True).encode())
    wheel.add(info + '/WHEEL', ('Wheel-Version: 1.0\nGenerator: mod-wsgi-rs '
                                'build_backend\nRoot-Is-Purelib: false\n'
                                'Tag: %s-%s-%s\n' % (py, abi, plat)).encode())
    wheel.add(info + '/entry_points.txt', ENTRY_POINTS.encode())
    wheel.add(info + '/top_level.txt', b'mod_wsgi_rs\n')
    wheel.close(info + '/RECORD')
    return name


def _source_files():
    """The files an sdist ships: those git tracks (never an untracked
    .env or scratch file lying in the checkout); in an unpacked sdist
    (no git), what it shipped."""
    try:
        out = subprocess.run(['git', 'ls-files', '-z', '--cached'],
                             capture_output=True, check=True).stdout.decode()
        files = [f for f in out.split('\0') if f and os.path.isfile(f)]
    except (OSError, subprocess.CalledProcessError):
        if not os.path.exists('PKG-INFO'):
            raise RuntimeError('an sdist is made from a git checkout (it '
                               'ships the files git tracks)') from None
        files = [os.path.relpath(os.path.join(d, f))
                 for d, _, names in os.walk('.') for f in names]
    return sorted(f for f in files if not SKIP.search(f))


def build_sdist(sdist_directory, config_settings=None):
    version = _version()
    base = '%s-%s' % (NAME, version)
    name = base + '.tar.gz'
    with tarfile.open(os.path.join(sdist_directory, name), 'w:gz') as tar:
        for path in _source_files():
            tar.add(path, arcname='%s/%s' % (base, path), recursive=False)
        info = tarfile.TarInfo('%s/PKG-INFO' % base)
        data = _metadata(version, False).encode()
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return name
