//! Decodes arbitrary bytes as a message between security managers, as the peer-to-peer
//! node reads them off the network: never a panic, the size limit holds, and what
//! decodes re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vkm_block::{deserialize, serialize};
use vkm_node::sm::Message;
use vkm_node::wire::MAX_MESSAGE_BYTES;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = deserialize::<Message>(data) {
        assert!(data.len() <= MAX_MESSAGE_BYTES);
        assert_eq!(serialize(&message), data);
        assert_eq!(message.encoded_len(), data.len());
        let _ = message.kind_name();
    }
});
