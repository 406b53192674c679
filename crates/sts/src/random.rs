//! Random bytes for ids, keys, secrets and nonces, from aws-lc's CSPRNG.
//!
//! Every call of `aws_lc_rs::rand::fill` has a fixed cost (DRBG state, locking, reseed
//! checks) that dominated small requests: one `AssumeRoleWithWebIdentity` needs four small
//! draws (request id, access key id, secret, nonce). So each thread draws a block at once
//! and hands it out in order; a byte is zeroed as soon as it is handed out, so the pool
//! never keeps material that has been used. The output is the CSPRNG's output either way.

use std::cell::RefCell;

/// Bytes drawn from the CSPRNG at a time, per thread.
const POOL: usize = 1024;

struct Pool {
    bytes: [u8; POOL],
    /// Bytes before `next` have been handed out (and zeroed).
    next: usize,
}

thread_local! {
    static THREAD_POOL: RefCell<Pool> = const { RefCell::new(Pool { bytes: [0; POOL], next: POOL }) };
}

/// Fills `buf` with cryptographically secure random bytes.
///
/// # Panics
/// If the system random number generator fails (it does not on supported platforms); an
/// id or secret must never be predictable.
pub fn fill(buf: &mut [u8]) {
    if buf.len() > POOL / 4 {
        draw(buf);
        return;
    }
    THREAD_POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        if POOL - pool.next < buf.len() {
            draw(&mut pool.bytes);
            pool.next = 0;
        }
        let start = pool.next;
        let end = start + buf.len();
        buf.copy_from_slice(&pool.bytes[start..end]);
        pool.bytes[start..end].fill(0);
        pool.next = end;
    });
}

fn draw(buf: &mut [u8]) {
    aws_lc_rs::rand::fill(buf).expect("the system random number generator failed");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_differ_and_cover_the_byte_range() {
        let mut seen = [false; 256];
        let mut previous = [0u8; 32];
        for _ in 0..200 {
            let mut b = [0u8; 32];
            fill(&mut b);
            assert_ne!(b, previous, "two draws must differ");
            for x in b {
                seen[x as usize] = true;
            }
            previous = b;
        }
        // 6,400 bytes: every value is expected about 25 times.
        assert!(seen.iter().all(|s| *s), "all byte values appear");
    }

    #[test]
    fn handed_out_bytes_are_wiped_and_large_requests_bypass_the_pool() {
        let mut b = [0u8; 16];
        fill(&mut b);
        THREAD_POOL.with(|pool| {
            let pool = pool.borrow();
            assert!(pool.bytes[..pool.next].iter().all(|x| *x == 0));
        });
        let mut big = vec![0u8; POOL * 2];
        fill(&mut big);
        assert!(big.iter().filter(|x| **x == 0).count() < POOL / 16);
    }
}
