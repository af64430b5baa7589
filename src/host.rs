//! This machine as other systems see it: the name events (`source`) and the NATS connection
//! (client name) use by default, so that several nodes tell themselves apart without settings.

/// This machine's host name (`localhost` when the kernel does not say).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
