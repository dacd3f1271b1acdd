package org.jettyitk.internal.front;

import java.nio.ByteBuffer;
import java.util.function.Consumer;
import java.util.function.IntSupplier;

/**
 * <p>Reads the HTTP/2 frame headers of what a worker writes, before Jetty's parser does, for two rules the
 * HTTP/2 client does not enforce against a hostile peer (DESIGN: only streams the front opened; no flood):</p>
 * <ul>
 *   <li>a frame on a front-initiated (odd) stream id the front has not opened yet: Jetty takes such an id for a
 *   closed stream and answers with a reset the front never sees;</li>
 *   <li>more than {@link #MAX_IDLE_FRAMES_PER_SECOND} frames that carry nothing (PING, PRIORITY, empty DATA
 *   that does not end its stream) in one second: the client has no rate control of its own.</li>
 * </ul>
 * <p>Frame layout (RFC 9113 §4.1): 24-bit length, 8-bit type, 8-bit flags, 1 reserved bit and a 31-bit stream
 * id, then the payload. Values split across chunks get their own states; the first violation latches.</p>
 */
class WorkerFrameGuard implements Consumer<ByteBuffer>
{
    /** Far above what a healthy worker sends (it never pings; an empty DATA comes from a flush without content). */
    static final int MAX_IDLE_FRAMES_PER_SECOND = 10_000;
    private static final int HEADER_LENGTH = 9;
    private static final int TYPE_DATA = 0x0;
    private static final int TYPE_PRIORITY = 0x2;
    private static final int TYPE_PING = 0x6;
    private static final int FLAG_END_STREAM = 0x1;

    private enum State
    {
        HEADER, PAYLOAD, LATCHED
    }

    private final IntSupplier highestOpenedStream;
    private final Consumer<String> onViolation;
    private final byte[] header = new byte[HEADER_LENGTH];
    private State state = State.HEADER;
    private int headerBytes;
    private long payloadRemaining;
    private long windowStartNanos = System.nanoTime();
    private int idleFrames;

    /**
     * @param highestOpenedStream the highest stream id the front has opened so far
     * @param onViolation called once, with the rule and the offending value
     */
    WorkerFrameGuard(IntSupplier highestOpenedStream, Consumer<String> onViolation)
    {
        this.highestOpenedStream = highestOpenedStream;
        this.onViolation = onViolation;
    }

    /**
     * Inspects a chunk the worker wrote, without moving its position. Called by the one reader thread.
     */
    @Override
    public void accept(ByteBuffer chunk)
    {
        int position = chunk.position();
        int limit = chunk.limit();
        while (position < limit && state != State.LATCHED)
        {
            switch (state)
            {
                case HEADER ->
                {
                    header[headerBytes++] = chunk.get(position++);
                    if (headerBytes == HEADER_LENGTH)
                        onHeader();
                }
                case PAYLOAD ->
                {
                    int skip = (int)Math.min(payloadRemaining, limit - position);
                    position += skip;
                    payloadRemaining -= skip;
                    if (payloadRemaining == 0)
                        state = State.HEADER;
                }
                default -> throw new IllegalStateException(state.toString());
            }
        }
    }

    private void onHeader()
    {
        headerBytes = 0;
        long length = ((header[0] & 0xFFL) << 16) | ((header[1] & 0xFFL) << 8) | (header[2] & 0xFFL);
        int type = header[3] & 0xFF;
        int flags = header[4] & 0xFF;
        int streamId = ((header[5] & 0x7F) << 24) | ((header[6] & 0xFF) << 16) | ((header[7] & 0xFF) << 8) | (header[8] & 0xFF);
        if ((streamId & 1) == 1 && streamId > highestOpenedStream.getAsInt())
        {
            violation("frame type " + type + " on stream " + streamId + " the front never opened");
            return;
        }
        boolean idle = type == TYPE_PING || type == TYPE_PRIORITY || (type == TYPE_DATA && length == 0 && (flags & FLAG_END_STREAM) == 0);
        if (idle && ++idleFrames > MAX_IDLE_FRAMES_PER_SECOND)
        {
            long now = System.nanoTime();
            if (now - windowStartNanos < 1_000_000_000L)
            {
                violation("flood: more than " + MAX_IDLE_FRAMES_PER_SECOND + " empty frames in one second");
                return;
            }
            windowStartNanos = now;
            idleFrames = 1;
        }
        payloadRemaining = length;
        state = length == 0 ? State.HEADER : State.PAYLOAD;
    }

    private void violation(String message)
    {
        state = State.LATCHED;
        onViolation.accept(message);
    }
}
