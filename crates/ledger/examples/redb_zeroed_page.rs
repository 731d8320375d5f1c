//! A reduced reproduction of redb panicking on a damaged file, independent of vkm: one
//! table of 200 values, cleanly closed, then each 4 KiB page zeroed in turn and the file
//! opened, checked (`check_integrity`) and read. Prints per page whether redb answered,
//! returned an error, or panicked, and where.
//!
//! ```sh
//! cargo run --release -p vkm-ledger --example redb_zeroed_page
//! ```
//!
//! With redb 4.6.0 in a release build, zeroing a page of the system tree that holds the
//! allocator state makes `Database::open` panic at `tree_store/btree.rs` (`unreachable!()`
//! in `Btree::get_helper` on a page type byte that is neither leaf nor branch) instead of
//! returning `StorageError::Corrupted`. In a debug build redb also panics where it detects
//! corruption itself (`StorageError::unreachable` has a `debug_assert!`): those are errors
//! in release builds. `docs/storage.md` has the numbers and what vkm does about it.

use std::panic::{AssertUnwindSafe, catch_unwind};

use redb::{Database, ReadableDatabase, TableDefinition};

const TABLE: TableDefinition<u64, &[u8]> = TableDefinition::new("values");

/// What one damaged copy did.
fn outcome(path: &std::path::Path) -> String {
    let run = || -> Result<String, redb::Error> {
        let mut db = Database::open(path)?;
        let intact = db.check_integrity()?;
        let read = db.begin_read()?;
        let table = read.open_table(TABLE)?;
        let found = table.get(100)?.map(|v| v.value().len());
        Ok(format!("check_integrity {intact}, value 100: {found:?}"))
    };
    match catch_unwind(AssertUnwindSafe(run)) {
        Ok(Ok(answer)) => format!("answered: {answer}"),
        Ok(Err(e)) => format!("error: {e}"),
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            format!("PANIC: {message}")
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("redb-zeroed-page-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("values.redb");
    {
        let db = Database::create(&path)?;
        let write = db.begin_write()?;
        {
            let mut table = write.open_table(TABLE)?;
            for key in 0..200u64 {
                table.insert(key, [7u8; 300].as_slice())?;
            }
        }
        write.commit()?;
    }
    let bytes = std::fs::read(&path)?;
    let damaged = dir.join("damaged.redb");
    // The panic messages are collected in the outcome; the default hook would repeat them.
    std::panic::set_hook(Box::new(|_| {}));
    let mut panics = 0;
    for page in 0..bytes.len().div_ceil(4096) {
        let mut copy = bytes.clone();
        let end = ((page + 1) * 4096).min(copy.len());
        copy[page * 4096..end].fill(0);
        std::fs::write(&damaged, &copy)?;
        let outcome = outcome(&damaged);
        panics += usize::from(outcome.starts_with("PANIC"));
        println!("page {page:>3}: {outcome}");
    }
    let _ = std::panic::take_hook();
    println!(
        "{panics} of {} zeroed pages made redb panic",
        bytes.len().div_ceil(4096)
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
