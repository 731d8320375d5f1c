//! The catching-up protocol's framing for libp2p request-response: a request or a
//! response is the bytes of one [`vkm_node::sm::Message`] ([`vkm_node::wire`]), read to
//! the end of its stream with a size limit enforced while reading (an empty response
//! acknowledges a request that has no answer).

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use libp2p::request_response::Codec;
use vkm_node::sm::MAX_LOCATOR;
use vkm_node::wire::MAX_MESSAGE_BYTES;

/// The protocol name.
pub const SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/vkm/sync/1");

/// Largest request read: a locator of [`MAX_LOCATOR`] hashes with room to spare, or one
/// block sent to a peer directly.
pub const MAX_REQUEST_BYTES: usize = vkm_block::limits::MAX_BLOCK_BYTES + 64 * MAX_LOCATOR;

/// Largest response read: a batch of catching-up blocks.
pub const MAX_RESPONSE_BYTES: usize = MAX_MESSAGE_BYTES;

/// Reads and writes raw message bytes with the limits above.
#[derive(Debug, Clone, Copy, Default)]
pub struct SyncCodec;

async fn read_limited<T: AsyncRead + Unpin + Send>(io: &mut T, max: usize) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    io.take(max as u64 + 1).read_to_end(&mut out).await?;
    if out.len() > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("message larger than {max} bytes"),
        ));
    }
    Ok(out)
}

async fn write_and_close<T: AsyncWrite + Unpin + Send>(io: &mut T, bytes: &[u8]) -> io::Result<()> {
    io.write_all(bytes).await?;
    io.close().await
}

#[async_trait::async_trait]
impl Codec for SyncCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_limited(io, MAX_REQUEST_BYTES).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_limited(io, MAX_RESPONSE_BYTES).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_and_close(io, &request).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_and_close(io, &response).await
    }
}
