//! Users and groups of this machine by name and by id (the `owner` and `group` of an
//! `output` block), through the C library so NSS sources (LDAP, systemd's dynamic users)
//! count as well as `/etc/passwd`.

use std::ffi::{CStr, CString};

/// The id of the user `name`, if this machine has one.
pub fn user_id(name: &str) -> Option<u32> {
    let name = CString::new(name).ok()?;
    with_buffer(|pwd: &mut libc::passwd, buf, found| unsafe {
        libc::getpwnam_r(name.as_ptr(), pwd, buf.as_mut_ptr(), buf.len(), found)
    })
    .map(|pwd| pwd.pw_uid)
}

/// The id of the group `name`, if this machine has one.
pub fn group_id(name: &str) -> Option<u32> {
    let name = CString::new(name).ok()?;
    with_buffer(|grp: &mut libc::group, buf, found| unsafe {
        libc::getgrnam_r(name.as_ptr(), grp, buf.as_mut_ptr(), buf.len(), found)
    })
    .map(|grp| grp.gr_gid)
}

/// The name of user `uid`, else the number.
pub fn user_name(uid: u32) -> String {
    with_buffer(|pwd: &mut libc::passwd, buf, found| unsafe {
        libc::getpwuid_r(uid, pwd, buf.as_mut_ptr(), buf.len(), found)
    })
    .and_then(|pwd| unsafe { c_text(pwd.pw_name) })
    .unwrap_or_else(|| uid.to_string())
}

/// The name of group `gid`, else the number.
pub fn group_name(gid: u32) -> String {
    with_buffer(|grp: &mut libc::group, buf, found| unsafe {
        libc::getgrgid_r(gid, grp, buf.as_mut_ptr(), buf.len(), found)
    })
    .and_then(|grp| unsafe { c_text(grp.gr_name) })
    .unwrap_or_else(|| gid.to_string())
}

/// Calls a reentrant `get*_r` lookup with a buffer that grows while it answers `ERANGE`;
/// the record, when one was found, together with the buffer its strings point into.
fn with_buffer<T>(
    mut lookup: impl FnMut(&mut T, &mut Vec<libc::c_char>, *mut *mut T) -> libc::c_int,
) -> Option<Found<T>> {
    let mut size = 1024;
    loop {
        let mut record: T = unsafe { std::mem::zeroed() };
        let mut buf: Vec<libc::c_char> = vec![0; size];
        let mut found: *mut T = std::ptr::null_mut();
        let rc = lookup(&mut record, &mut buf, &mut found);
        if rc == libc::ERANGE && size < 1 << 20 {
            size *= 4;
            continue;
        }
        if rc != 0 || found.is_null() {
            return None;
        }
        return Some(Found { record, _buf: buf });
    }
}

/// A record with the buffer its strings point into.
struct Found<T> {
    record: T,
    _buf: Vec<libc::c_char>,
}

impl<T> std::ops::Deref for Found<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.record
    }
}

/// # Safety
/// `ptr` is null or a NUL-terminated string that outlives the call.
unsafe fn c_text(ptr: *const libc::c_char) -> Option<String> {
    (!ptr.is_null()).then(|| CStr::from_ptr(ptr).to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_and_unknown_names() {
        assert_eq!(user_id("root"), Some(0));
        assert_eq!(group_id("root"), Some(0));
        assert_eq!(user_name(0), "root");
        assert_eq!(group_name(0), "root");
        assert_eq!(user_id("no-such-user-certform"), None);
        assert_eq!(group_id("no-such-group-certform"), None);
        assert_eq!(user_id("a\0b"), None);
        assert_eq!(user_name(4_000_000_000), "4000000000");
    }
}
