//! `WSGIDaemonProcess name [options]`: the complete option grammar.
//!
//! Every option mod_wsgi documents is parsed and validated here, with
//! mod_wsgi's defaults, so a config written for mod_wsgi is accepted as is
//! and a mistake is reported with the option's name. Users and groups are
//! kept as names; resolving them needs the system's user database and
//! happens in the module.

use crate::words::{parse_on_off, split_options, split_words};
use std::time::Duration;

/// One daemon process group, as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonProcessSpec {
    pub name: String,
    pub user: Option<String>,
    pub group: Option<String>,
    pub supplementary_groups: Vec<String>,
    pub processes: u32,
    /// True when `processes=` was given at all (mod_wsgi's `wsgi.multiprocess`).
    pub multiprocess: bool,
    pub threads: u32,
    pub umask: Option<u32>,
    pub chroot: Option<String>,
    pub home: Option<String>,
    pub lang: Option<String>,
    pub locale: Option<String>,
    pub python_home: Option<String>,
    pub python_path: Vec<String>,
    pub python_eggs: Option<String>,
    pub stack_size: Option<u64>,
    pub maximum_requests: u64,
    /// `maximum-requests-jitter=`: each process adds a random 0..=N to
    /// maximum-requests, so a group's processes do not recycle together.
    pub maximum_requests_jitter: u64,
    /// `maximum-rss=` in MiB: a warm recycle once resident memory passes it.
    pub maximum_rss: u64,
    pub startup_timeout: Duration,
    pub shutdown_timeout: Duration,
    pub deadlock_timeout: Duration,
    pub inactivity_timeout: Duration,
    pub request_timeout: Duration,
    pub interrupt_timeout: Duration,
    pub graceful_timeout: Duration,
    pub eviction_timeout: Duration,
    pub restart_interval: Duration,
    pub connect_timeout: Duration,
    pub socket_timeout: Duration,
    pub queue_timeout: Duration,
    pub response_socket_timeout: Duration,
    pub listen_backlog: u32,
    pub display_name: Option<String>,
    pub send_buffer_size: u32,
    pub receive_buffer_size: u32,
    pub header_buffer_size: u32,
    pub response_buffer_size: u32,
    pub socket_user: Option<String>,
    pub script_user: Option<String>,
    pub script_group: Option<String>,
    pub cpu_time_limit: Duration,
    pub cpu_priority: i32,
    pub memory_limit: u64,
    pub virtual_memory_limit: u64,
    pub server_metrics: bool,
    /// `switch-interval=`: sys.setswitchinterval() in the daemon.
    pub switch_interval: Option<f64>,
    /// `response-flush-delay=` (milliseconds in the directive).
    pub response_flush_delay: Duration,
}

impl DaemonProcessSpec {
    /// A group with mod_wsgi's defaults.
    pub fn with_defaults(name: &str) -> Self {
        DaemonProcessSpec {
            name: name.to_string(),
            user: None,
            group: None,
            supplementary_groups: Vec::new(),
            processes: 1,
            multiprocess: false,
            threads: 15,
            umask: None,
            chroot: None,
            home: None,
            lang: None,
            locale: None,
            python_home: None,
            python_path: Vec::new(),
            python_eggs: None,
            stack_size: None,
            maximum_requests: 0,
            maximum_requests_jitter: 0,
            maximum_rss: 0,
            startup_timeout: Duration::ZERO,
            shutdown_timeout: secs(5),
            deadlock_timeout: secs(300),
            inactivity_timeout: Duration::ZERO,
            request_timeout: Duration::ZERO,
            interrupt_timeout: Duration::ZERO,
            graceful_timeout: secs(15),
            eviction_timeout: Duration::ZERO,
            restart_interval: Duration::ZERO,
            connect_timeout: secs(15),
            socket_timeout: Duration::ZERO,
            queue_timeout: Duration::ZERO,
            response_socket_timeout: Duration::ZERO,
            listen_backlog: 100,
            display_name: None,
            send_buffer_size: 0,
            receive_buffer_size: 0,
            header_buffer_size: 0,
            response_buffer_size: 0,
            socket_user: None,
            script_user: None,
            script_group: None,
            cpu_time_limit: Duration::ZERO,
            cpu_priority: 0,
            memory_limit: 0,
            virtual_memory_limit: 0,
            server_metrics: false,
            switch_interval: None,
            response_flush_delay: Duration::from_millis(5),
        }
    }

    /// Parses the whole argument line of a `WSGIDaemonProcess` directive.
    pub fn parse(args: &str) -> Result<Self, String> {
        let args = args.trim_start();
        let name_end = args.find(char::is_whitespace).unwrap_or(args.len());
        let name_words = split_words(&args[..name_end])?;
        let name = match name_words.as_slice() {
            [n] if !n.is_empty() && !n.contains('=') => n.clone(),
            _ => return Err("the first argument must be the process group's name".into()),
        };
        let mut spec = Self::with_defaults(&name);
        for opt in split_options(&args[name_end..])? {
            let value = opt.value.ok_or_else(|| {
                format!(
                    "option '{}' needs a value (write {}=VALUE)",
                    opt.name, opt.name
                )
            })?;
            spec.apply(&opt.name, &value)
                .map_err(|e| format!("option '{}={}': {}", opt.name, value, e))?;
        }
        if spec.script_user.is_some() && spec.script_group.is_some() {
            return Err("only one of script-user= and script-group= may be given".into());
        }
        if spec.response_socket_timeout.is_zero() {
            spec.response_socket_timeout = spec.socket_timeout;
        }
        Ok(spec)
    }

    fn apply(&mut self, option: &str, v: &str) -> Result<(), String> {
        match option {
            "user" => self.user = Some(non_empty(v)?),
            "group" => self.group = Some(non_empty(v)?),
            "supplementary-groups" => {
                self.supplementary_groups = v
                    .split(',')
                    .filter(|g| !g.is_empty())
                    .map(String::from)
                    .collect()
            }
            "processes" => {
                self.processes = count(v, 1, u32::MAX)?;
                self.multiprocess = true;
            }
            "threads" => self.threads = count(v, 0, 10_000)?,
            "umask" => {
                self.umask = Some(
                    u32::from_str_radix(v, 8)
                        .ok()
                        .filter(|m| *m <= 0o7777)
                        .ok_or("expected an octal mask such as 0007")?,
                )
            }
            "chroot" => self.chroot = Some(absolute(v)?),
            "home" => self.home = Some(absolute(v)?),
            "lang" => self.lang = Some(v.to_string()),
            "locale" => self.locale = Some(v.to_string()),
            "python-home" => self.python_home = Some(non_empty(v)?),
            "python-path" => self.python_path = split_path_list(v),
            "python-eggs" => self.python_eggs = Some(v.to_string()),
            "stack-size" => self.stack_size = Some(count(v, 1, u64::MAX)?),
            "maximum-requests" => self.maximum_requests = count(v, 0, u64::MAX)?,
            "maximum-requests-jitter" => self.maximum_requests_jitter = count(v, 0, u64::MAX)?,
            "maximum-rss" => self.maximum_rss = count(v, 0, u64::MAX / (1 << 20))?,
            "startup-timeout" => self.startup_timeout = seconds(v)?,
            "shutdown-timeout" => self.shutdown_timeout = seconds(v)?,
            "deadlock-timeout" => self.deadlock_timeout = seconds(v)?,
            "inactivity-timeout" => self.inactivity_timeout = seconds(v)?,
            "request-timeout" => self.request_timeout = seconds(v)?,
            "interrupt-timeout" => self.interrupt_timeout = seconds(v)?,
            "graceful-timeout" => self.graceful_timeout = seconds(v)?,
            "eviction-timeout" => self.eviction_timeout = seconds(v)?,
            "restart-interval" => self.restart_interval = seconds(v)?,
            "connect-timeout" => self.connect_timeout = seconds(v)?,
            "socket-timeout" => self.socket_timeout = seconds(v)?,
            "queue-timeout" => self.queue_timeout = seconds(v)?,
            "response-socket-timeout" => self.response_socket_timeout = seconds(v)?,
            "listen-backlog" => self.listen_backlog = count(v, 0, 65_535)?,
            "display-name" => self.display_name = Some(non_empty(v)?),
            "send-buffer-size" => self.send_buffer_size = buffer_size(v, 512)?,
            "receive-buffer-size" => self.receive_buffer_size = buffer_size(v, 512)?,
            "header-buffer-size" => self.header_buffer_size = buffer_size(v, 8192)?,
            "response-buffer-size" => self.response_buffer_size = buffer_size(v, 65536)?,
            "socket-user" => self.socket_user = Some(non_empty(v)?),
            "script-user" => self.script_user = Some(non_empty(v)?),
            "script-group" => self.script_group = Some(non_empty(v)?),
            "cpu-time-limit" => self.cpu_time_limit = seconds(v)?,
            "cpu-priority" => {
                self.cpu_priority = v.parse().map_err(|_| "expected a whole number")?
            }
            "memory-limit" => self.memory_limit = count(v, 0, u64::MAX)?,
            "virtual-memory-limit" => self.virtual_memory_limit = count(v, 0, u64::MAX)?,
            "server-metrics" => {
                self.server_metrics = parse_on_off(v).ok_or("expected On or Off")?
            }
            "switch-interval" => {
                self.switch_interval = Some(crate::server_options::switch_interval(v)?)
            }
            "response-flush-delay" => {
                self.response_flush_delay = Duration::from_millis(count(v, 0, 60_000)?)
            }
            _ => return Err("unknown option".into()),
        }
        Ok(())
    }

    /// The name shown in `ps` for this group's processes, if any.
    pub fn process_title(&self) -> Option<String> {
        match self.display_name.as_deref() {
            Some("%{GROUP}") => Some(format!("(wsgi:{})", self.name)),
            Some(other) => Some(other.to_string()),
            None => None,
        }
    }
}

/// Splits a `python-path`-style list: `:` separated, empty items dropped.
pub fn split_path_list(v: &str) -> Vec<String> {
    v.split(':')
        .filter(|p| !p.is_empty())
        .map(String::from)
        .collect()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn non_empty(v: &str) -> Result<String, String> {
    if v.is_empty() {
        Err("a value is required".into())
    } else {
        Ok(v.to_string())
    }
}

fn absolute(v: &str) -> Result<String, String> {
    if v.starts_with('/') {
        Ok(v.to_string())
    } else {
        Err("expected an absolute path".into())
    }
}

fn count<T>(v: &str, min: T, max: T) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let n: T = v
        .parse()
        .map_err(|_| format!("expected a whole number from {} to {}", min, max))?;
    if n < min || n > max {
        return Err(format!("expected a whole number from {} to {}", min, max));
    }
    Ok(n)
}

fn seconds(v: &str) -> Result<Duration, String> {
    count::<u64>(v, 0, 365 * 24 * 3600).map(Duration::from_secs)
}

fn buffer_size(v: &str, min: u32) -> Result<u32, String> {
    let n = count::<u32>(v, 0, u32::MAX)?;
    if n != 0 && n < min {
        return Err(format!(
            "must be at least {} bytes, or 0 for the default",
            min
        ));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_mod_wsgi() {
        let s = DaemonProcessSpec::parse("site").unwrap();
        assert_eq!(s.name, "site");
        assert_eq!((s.processes, s.threads, s.multiprocess), (1, 15, false));
        assert_eq!(s.shutdown_timeout, secs(5));
        assert_eq!(s.graceful_timeout, secs(15));
        assert_eq!(s.deadlock_timeout, secs(300));
        assert_eq!(s.connect_timeout, secs(15));
        assert_eq!(s.listen_backlog, 100);
    }

    #[test]
    fn every_documented_option_parses() {
        let line = "g user=www-data group=www-data supplementary-groups=a,b processes=3 threads=4 \
            umask=0027 chroot=/srv home=/tmp lang=en_US.UTF-8 locale=C.UTF-8 python-home=/v \
            python-path=/a:/b python-eggs=/e stack-size=524288 maximum-requests=100 \
            startup-timeout=1 shutdown-timeout=2 deadlock-timeout=3 inactivity-timeout=4 \
            request-timeout=5 interrupt-timeout=6 graceful-timeout=7 eviction-timeout=8 \
            restart-interval=9 connect-timeout=10 socket-timeout=11 queue-timeout=12 \
            response-socket-timeout=13 listen-backlog=50 display-name=%{GROUP} \
            send-buffer-size=1024 receive-buffer-size=1024 header-buffer-size=8192 \
            response-buffer-size=65536 socket-user=nobody script-user=nobody cpu-time-limit=30 \
            cpu-priority=-5 memory-limit=1000000 virtual-memory-limit=2000000 server-metrics=On";
        let s = DaemonProcessSpec::parse(line).unwrap();
        assert_eq!(s.supplementary_groups, vec!["a", "b"]);
        assert_eq!((s.processes, s.threads, s.multiprocess), (3, 4, true));
        assert_eq!(s.umask, Some(0o027));
        assert_eq!(s.python_path, vec!["/a", "/b"]);
        assert_eq!(s.request_timeout, secs(5));
        assert_eq!(s.response_socket_timeout, secs(13));
        assert_eq!(s.cpu_priority, -5);
        assert!(s.server_metrics);
        assert_eq!(s.process_title().as_deref(), Some("(wsgi:g)"));
    }

    #[test]
    fn errors_name_the_option() {
        let e = DaemonProcessSpec::parse("g processes=0").unwrap_err();
        assert!(e.contains("processes=0"), "{e}");
        let e = DaemonProcessSpec::parse("g bogus=1").unwrap_err();
        assert!(
            e.contains("'bogus=1'") && e.contains("unknown option"),
            "{e}"
        );
        let e = DaemonProcessSpec::parse("g threads").unwrap_err();
        assert!(e.contains("'threads' needs a value"), "{e}");
        assert!(DaemonProcessSpec::parse("g umask=9").is_err());
        assert!(DaemonProcessSpec::parse("g home=relative").is_err());
        assert!(DaemonProcessSpec::parse("g header-buffer-size=100").is_err());
        assert!(DaemonProcessSpec::parse("g server-metrics=maybe").is_err());
        let s =
            DaemonProcessSpec::parse("g switch-interval=0.002 response-flush-delay=20").unwrap();
        assert_eq!(s.switch_interval, Some(0.002));
        assert_eq!(s.response_flush_delay, Duration::from_millis(20));
        assert!(DaemonProcessSpec::parse("g switch-interval=0").is_err());
        assert!(DaemonProcessSpec::parse("g response-flush-delay=-1").is_err());
        assert!(DaemonProcessSpec::parse("g script-user=a script-group=b").is_err());
        assert!(DaemonProcessSpec::parse("").is_err());
        assert!(DaemonProcessSpec::parse("processes=2").is_err());
    }

    #[test]
    fn response_socket_timeout_defaults_to_socket_timeout() {
        let s = DaemonProcessSpec::parse("g socket-timeout=30").unwrap();
        assert_eq!(s.response_socket_timeout, secs(30));
    }

    #[test]
    fn quoted_values() {
        let s = DaemonProcessSpec::parse(r#""my group" python-path="/a b""#);
        // A quoted group name with a space is not something mod_wsgi accepts either.
        assert!(s.is_err());
        let s = DaemonProcessSpec::parse(r#"g python-path="/a b:/c""#).unwrap();
        assert_eq!(s.python_path, vec!["/a b", "/c"]);
    }
}
