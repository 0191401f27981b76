//! libnftables (`libnftables.so.1`), loaded with `dlopen` and driven in-process.
//!
//! Why in-process: `nft -f` per change costs a process start plus nft building
//! its cache of the whole table each time. A long-lived context keeps the
//! netlink socket open and sends the same text as one batch, so
//! `compile -o nft` still shows exactly what is applied. Why `dlopen` rather than
//! linking: a node without the library still works through the `nft` binary
//! (the caller decides; `Library::open` says why it could not load).
//!
//! A [`Context`] is not `Send`: libnftables keeps per-context state and is not
//! thread-safe, so a context stays on the thread that made it. The netlink
//! socket is bound to that thread's network namespace when the context is made.

#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char, c_int, c_uint, c_void};
use std::marker::PhantomData;

/// The soname Debian's libnftables1 installs.
pub const SONAME: &str = "libnftables.so.1";

/// `NFT_CTX_OUTPUT_JSON` in `nftables/libnftables.h`.
const OUTPUT_JSON: c_uint = 1 << 4;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("could not load {SONAME}: {0}")]
    Load(String),
    #[error("{SONAME} made no context (out of memory?)")]
    NoContext,
    #[error("the command text contains a NUL byte")]
    Nul,
    #[error("{0}")]
    Command(String),
}

type CtxNew = unsafe extern "C" fn(c_uint) -> *mut c_void;
type CtxFree = unsafe extern "C" fn(*mut c_void);
type CtxInt = unsafe extern "C" fn(*mut c_void) -> c_int;
type CtxStr = unsafe extern "C" fn(*mut c_void) -> *const c_char;
type CtxGetFlags = unsafe extern "C" fn(*mut c_void) -> c_uint;
type CtxSetFlags = unsafe extern "C" fn(*mut c_void, c_uint);
type RunCmd = unsafe extern "C" fn(*mut c_void, *const c_char) -> c_int;

/// The loaded library and the entry points netfence uses.
pub struct Library {
    ctx_new: CtxNew,
    ctx_free: CtxFree,
    buffer_output: CtxInt,
    buffer_error: CtxInt,
    get_output: CtxStr,
    get_error: CtxStr,
    get_flags: CtxGetFlags,
    set_flags: CtxSetFlags,
    run_cmd: RunCmd,
    // Keeps the function pointers above valid; declared last so it is dropped last.
    _lib: libloading::Library,
}

impl Library {
    /// Loads `libnftables.so.1`; an error says why (usually: not installed).
    pub fn open() -> Result<Library, Error> {
        // SAFETY: loading libnftables runs its initialisers, which only set up
        // its own state (no global side effects netfence depends on).
        let lib =
            unsafe { libloading::Library::new(SONAME) }.map_err(|e| Error::Load(e.to_string()))?;
        macro_rules! sym {
            ($name:literal, $ty:ty) => {{
                // SAFETY: the type matches the prototype in libnftables.h
                // (nftables 0.9 to 1.1 keep these stable).
                let s: libloading::Symbol<$ty> =
                    unsafe { lib.get($name) }.map_err(|e| Error::Load(e.to_string()))?;
                *s
            }};
        }
        Ok(Library {
            ctx_new: sym!(b"nft_ctx_new\0", CtxNew),
            ctx_free: sym!(b"nft_ctx_free\0", CtxFree),
            buffer_output: sym!(b"nft_ctx_buffer_output\0", CtxInt),
            buffer_error: sym!(b"nft_ctx_buffer_error\0", CtxInt),
            get_output: sym!(b"nft_ctx_get_output_buffer\0", CtxStr),
            get_error: sym!(b"nft_ctx_get_error_buffer\0", CtxStr),
            get_flags: sym!(b"nft_ctx_output_get_flags\0", CtxGetFlags),
            set_flags: sym!(b"nft_ctx_output_set_flags\0", CtxSetFlags),
            run_cmd: sym!(b"nft_run_cmd_from_buffer\0", RunCmd),
            _lib: lib,
        })
    }

    /// A context whose output and errors are captured (never printed).
    pub fn context(&self) -> Result<Context<'_>, Error> {
        // SAFETY: 0 is NFT_CTX_DEFAULT.
        let ctx = unsafe { (self.ctx_new)(0) };
        if ctx.is_null() {
            return Err(Error::NoContext);
        }
        let c = Context {
            lib: self,
            ctx,
            _not_send: PhantomData,
        };
        // SAFETY: ctx is a live context made above.
        let (o, e) = unsafe { ((self.buffer_output)(ctx), (self.buffer_error)(ctx)) };
        if o != 0 || e != 0 {
            return Err(Error::Command(
                "could not capture libnftables output".into(),
            ));
        }
        Ok(c)
    }
}

/// One libnftables context (`struct nft_ctx`).
pub struct Context<'l> {
    lib: &'l Library,
    ctx: *mut c_void,
    // libnftables contexts are not thread-safe.
    _not_send: PhantomData<*mut ()>,
}

impl Context<'_> {
    /// Runs `commands` (nft syntax, as `nft -f` reads it) as one transaction:
    /// libnftables parses and checks all of it before it sends one netlink batch,
    /// which the kernel commits whole or not at all. Returns what nft printed
    /// (JSON when `json`), or its error messages.
    pub fn run(&mut self, commands: &str, json: bool) -> Result<String, Error> {
        let text = CString::new(commands).map_err(|_| Error::Nul)?;
        // SAFETY: self.ctx is live for the lifetime of self; text outlives the
        // call; the returned buffers are owned by the context and copied out
        // before the next call.
        unsafe {
            let flags = (self.lib.get_flags)(self.ctx);
            let flags = if json {
                flags | OUTPUT_JSON
            } else {
                flags & !OUTPUT_JSON
            };
            (self.lib.set_flags)(self.ctx, flags);
            let rc = (self.lib.run_cmd)(self.ctx, text.as_ptr());
            let out = buffer((self.lib.get_output)(self.ctx));
            let err = buffer((self.lib.get_error)(self.ctx));
            if rc == 0 {
                Ok(out)
            } else {
                Err(Error::Command(err.trim().to_string()))
            }
        }
    }
}

/// # Safety
/// `p` is null or a NUL-terminated string valid for the duration of the call.
unsafe fn buffer(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: per the function's contract.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

impl Drop for Context<'_> {
    fn drop(&mut self) {
        // SAFETY: ctx is live and freed exactly once.
        unsafe { (self.lib.ctx_free)(self.ctx) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Parsing needs no privileges: a syntax error is reported, with nft's
    // located message, before anything is sent.
    #[test]
    fn a_syntax_error_is_reported_not_printed() {
        let Ok(lib) = Library::open() else {
            assert!(
                std::env::var_os("NETFENCE_REQUIRE_LIBNFT").is_none(),
                "{SONAME} is required"
            );
            return;
        };
        let mut ctx = lib.context().unwrap(); // ok: test
        let err = ctx
            .run("add tabel inet x\n", false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("syntax error"), "{err}");
        assert!(err.contains("tabel"), "{err}");
    }

    #[test]
    fn a_nul_byte_is_refused() {
        let Ok(lib) = Library::open() else { return };
        let mut ctx = lib.context().unwrap(); // ok: test
        assert!(matches!(
            ctx.run("add table inet x\0", false),
            Err(Error::Nul)
        ));
    }
}
