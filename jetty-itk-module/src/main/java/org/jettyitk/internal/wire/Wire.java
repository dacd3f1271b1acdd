package org.jettyitk.internal.wire;

import java.util.Map;

import org.eclipse.jetty.http2.client.HTTP2Client;
import org.eclipse.jetty.http2.frames.SettingsFrame;
import org.eclipse.jetty.http2.server.AbstractHTTP2ServerConnectionFactory;

/**
 * <p>The figures of the pipe protocol ({@code docs/protocol.md}, "Limits") that front and worker both depend on:
 * the HTTP/2 settings each end gives its side of the pipe, the buffers of the pipe EndPoints, the pipes' capacity
 * and the rules of the worker's output. Both ends read them here, and only here: the front's {@link HTTP2Client}
 * through {@link #configureFront(HTTP2Client)}, the worker's connection factory through
 * {@link #configureWorker(AbstractHTTP2ServerConnectionFactory)}.</p>
 * <p>Front and worker are the same jar (the front launches the worker with its own class path), so both ends always
 * agree on these values; they are still announced in each side's SETTINGS, and each side enforces its own.</p>
 */
public final class Wire
{
    /**
     * Bytes a pipe EndPoint's reader thread reads at once, and the input buffer of both HTTP/2 connections: each
     * parses a whole chunk, not Jetty's default 8 KiB of it. Linux's default pipe capacity is 64 KiB.
     */
    public static final int PIPE_READ_CHUNK_SIZE = 64 * 1024;
    /** Chunks a pipe EndPoint's reader may have read ahead of its connection; then the pipe itself pushes back. */
    public static final int PIPE_READ_CHUNKS = 2;
    /** Bytes that may wait in a pipe EndPoint's write-behind queue before a flush is left incomplete. */
    public static final int PIPE_WRITE_BEHIND_LIMIT = 256 * 1024;
    /**
     * Capacity asked for both protocol pipes, in place of Linux's 64 KiB: a response or request body then crosses
     * in few reads and writes, where 64 KiB made the writer wait for the reader every 64 KiB (on the 75 KB page,
     * 6.8 thread switches per request against 4.7 with 1 MiB). The launcher sets it when it can, the worker
     * otherwise (the default {@code /proc/sys/fs/pipe-max-size} lets an unprivileged process ask for this much),
     * capped by {@code pipe-max-size}. The kernel allocates the pages only while bytes wait in the pipe.
     */
    public static final int PIPE_CAPACITY = 1024 * 1024;

    /** Largest HTTP/2 frame a worker may send the front: a response body crosses the pipe, and goes to the client, in few writes. */
    public static final int FRONT_MAX_FRAME_SIZE = 64 * 1024;
    /** Largest response header block a worker may send, decoded. */
    public static final int MAX_RESPONSE_HEADERS_SIZE = 64 * 1024;
    /** Most fields in a response header block (or trailers) a worker may send. */
    public static final int MAX_RESPONSE_FIELDS = 256;
    /** Largest HPACK dynamic table the front keeps for a worker. */
    public static final int FRONT_MAX_DECODER_TABLE_CAPACITY = 4096;
    /** Most keys in one SETTINGS frame from a worker. */
    public static final int FRONT_MAX_SETTINGS_KEYS = 16;
    /** Flow-control window the front gives each response stream of a worker: what a slow client can leave buffered. */
    public static final int FRONT_STREAM_RECV_WINDOW = 1024 * 1024;
    /** Flow-control window the front gives a worker's whole session. */
    public static final int FRONT_SESSION_RECV_WINDOW = 16 * 1024 * 1024;
    /** What the front's preface adds to its SETTINGS: no push, so that a PUSH_PROMISE from a worker is a protocol error. */
    public static final Map<Integer, Integer> FRONT_PREFACE_SETTINGS = Map.of(SettingsFrame.ENABLE_PUSH, 0);

    /** Largest HTTP/2 frame the front may send a worker: a request body crosses the pipe in few frames. */
    public static final int WORKER_MAX_FRAME_SIZE = 64 * 1024;
    /** HTTP/2 streams the front may open at once on one worker. */
    public static final int WORKER_MAX_CONCURRENT_STREAMS = 1024;
    /** Flow-control window a worker gives each request stream. */
    public static final int WORKER_STREAM_RECV_WINDOW = 1024 * 1024;
    /** Flow-control window a worker gives the front's whole session. */
    public static final int WORKER_SESSION_RECV_WINDOW = 16 * 1024 * 1024;
    /**
     * Largest request header list a worker accepts (SETTINGS_MAX_HEADER_LIST_SIZE). HPACK counts 32 bytes more per
     * field than the client sent, so a request within the front's own limit (Jetty's 8 KiB of header bytes by
     * default) may exceed that limit once forwarded; the front answers 431 to what still exceeds this one.
     */
    public static final int WORKER_MAX_REQUEST_HEADERS_SIZE = 256 * 1024;

    private Wire()
    {
    }

    /**
     * Gives the front's HTTP/2 client its side of the profile: the bounds on what a worker can make the front hold,
     * no push, no ALPN (prior knowledge).
     */
    public static void configureFront(HTTP2Client client)
    {
        client.setMaxFrameSize(FRONT_MAX_FRAME_SIZE);
        client.setInputBufferSize(PIPE_READ_CHUNK_SIZE);
        client.setMaxResponseHeadersSize(MAX_RESPONSE_HEADERS_SIZE);
        client.setMaxDecoderTableCapacity(FRONT_MAX_DECODER_TABLE_CAPACITY);
        client.setInitialStreamRecvWindow(FRONT_STREAM_RECV_WINDOW);
        client.setInitialSessionRecvWindow(FRONT_SESSION_RECV_WINDOW);
        client.setMaxSettingsKeys(FRONT_MAX_SETTINGS_KEYS);
        client.setMaxConcurrentPushedStreams(0);
        client.setUseALPN(false);
    }

    /**
     * Gives the worker's HTTP/2 connection factory its side of the profile; the request header list size is its
     * {@code HttpConfiguration}'s ({@link #WORKER_MAX_REQUEST_HEADERS_SIZE}).
     */
    public static void configureWorker(AbstractHTTP2ServerConnectionFactory h2c)
    {
        h2c.setMaxConcurrentStreams(WORKER_MAX_CONCURRENT_STREAMS);
        h2c.setInitialStreamRecvWindow(WORKER_STREAM_RECV_WINDOW);
        h2c.setInitialSessionRecvWindow(WORKER_SESSION_RECV_WINDOW);
        h2c.setMaxFrameSize(WORKER_MAX_FRAME_SIZE);
        h2c.setInputBufferSize(PIPE_READ_CHUNK_SIZE);
    }
}
