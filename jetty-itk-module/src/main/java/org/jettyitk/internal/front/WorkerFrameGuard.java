package org.jettyitk.internal.front;

import java.nio.ByteBuffer;
import java.util.function.Consumer;
import java.util.function.LongSupplier;

/**
 * <p>Reads the HTTP/2 frame headers of what a worker writes, before Jetty's parser does, for the rules the HTTP/2
 * client does not enforce against a hostile peer (DESIGN: only streams the front opened; nothing a worker sends
 * grows the front's memory past a fixed bound). The worker is tenant code: it can write any bytes to its
 * protocol pipe and stop reading its stdin.</p>
 * <ul>
 *   <li>an unknown frame type: we own both ends, so it is an error, not an extension;</li>
 *   <li>a frame on a front-initiated (odd) stream id the front has not opened yet: Jetty takes such an id for a
 *   closed stream and answers with a reset the front never sees;</li>
 *   <li>a <em>wasted</em> frame, one that obliges the front to answer or costs it work without moving any
 *   response forward, counts against a budget of {@code maxWastedFramesPerSecond} in each second; the client has
 *   no rate control of its own. See the table below;</li>
 *   <li>at each wasted frame, the frames the front's session has queued toward the worker, unwritten, plus the
 *   wasted frames of the chunk so far (each may add an answer once the chunk is parsed), must be at most
 *   {@code maxQueuedFrames}: a worker that stops reading and keeps sending SETTINGS or PING makes the front
 *   queue an answer for each, without bound (with the rate budget alone, a slow flood still would).</li>
 * </ul>
 * <table>
 *   <caption>Wasted frames</caption>
 *   <tr><th>frame</th><th>wasted when</th><th>why</th></tr>
 *   <tr><td>SETTINGS, PING</td><td>always</td><td>the front must answer; a healthy worker sends one SETTINGS and one
 *   SETTINGS ACK, and PING ACKs only to the front's PINGs</td></tr>
 *   <tr><td>PRIORITY, GOAWAY</td><td>always</td><td>parsed for nothing; a healthy worker sends one GOAWAY</td></tr>
 *   <tr><td>DATA, HEADERS, CONTINUATION, RST_STREAM, WINDOW_UPDATE</td><td>on a stream the front has closed</td>
 *   <td>dropped by the front (a worker may send a few as it races a reset)</td></tr>
 *   <tr><td>DATA, HEADERS</td><td>empty and not ending the stream</td><td>no content</td></tr>
 *   <tr><td>CONTINUATION</td><td>empty and not ending the header block</td><td>no content</td></tr>
 *   <tr><td>WINDOW_UPDATE</td><td>beyond its credit: each write of the front earns one free WINDOW_UPDATE, and
 *   each {@value #WINDOW_UPDATE_CREDIT_BYTES} bytes of it one more, banked up to {@value #MAX_WINDOW_UPDATE_CREDIT}
 *   </td><td>a healthy worker opens its windows as it consumes what the front sent (Jetty's, when half a window
 *   is consumed)</td></tr>
 * </table>
 * <p>Frame layout (RFC 9113 §4.1): 24-bit length, 8-bit type, 8-bit flags, 1 reserved bit and a 31-bit stream
 * id, then the payload. The header is collected across chunks; the payload is skipped. The first violation
 * latches: nothing more is inspected.</p>
 */
class WorkerFrameGuard implements Consumer<ByteBuffer>
{
    /**
     * Wasted frames a worker may send in one second. A healthy worker sends a handful in its life, plus the frames
     * in flight on streams the front resets (at most a stream's window of them each); a flood at this rate costs the
     * front well under a millisecond of parsing per second.
     */
    static final int DEFAULT_MAX_WASTED_FRAMES_PER_SECOND = 1000;
    /**
     * Frames the front's session may have queued toward a worker, unwritten, when the worker sends a wasted frame.
     * Far above what a healthy worker's requests queue (a HEADERS and a DATA frame for each of its
     * {@link VhostSettings#DEFAULT_MAX_STREAMS_PER_WORKER} streams), far below a memory concern (each is under a KiB,
     * but for request DATA, bounded by the worker's flow-control windows).
     */
    static final int DEFAULT_MAX_QUEUED_FRAMES = 8192;
    static final int HEADER_LENGTH = 9;
    /** The front's bytes to the worker that earn one more free WINDOW_UPDATE. */
    static final int WINDOW_UPDATE_CREDIT_BYTES = 1024;
    /** Free WINDOW_UPDATEs a worker may bank: a long upload earns no flood. */
    static final int MAX_WINDOW_UPDATE_CREDIT = 64;
    private static final long WINDOW_NANOS = 1_000_000_000L;
    private static final int FLAG_END_STREAM = 0x1;
    private static final int FLAG_ACK = 0x1;
    private static final int FLAG_END_HEADERS = 0x4;

    /**
     * The frame types of RFC 9113 §6; {@link #from(int)} rejects any other code.
     */
    enum FrameType
    {
        DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION;

        private static final FrameType[] TYPES = values();

        /**
         * @return the type of the code, or null when the code is none of RFC 9113's
         */
        static FrameType from(int code)
        {
            return code >= 0 && code < TYPES.length ? TYPES[code] : null;
        }
    }

    private enum State
    {
        HEADER, PAYLOAD, LATCHED
    }

    /**
     * What the guard asks of the worker's session. Called on the reader thread; each must be cheap and never block
     * for long.
     */
    interface Session
    {
        /**
         * @return the highest stream id the front has opened so far
         */
        int highestOpenedStream();

        /**
         * @return whether the stream is open at the front (opened and not yet closed)
         */
        boolean isOpen(int streamId);

        /**
         * @return the bytes the front has written, or queued for writing, to the worker so far
         */
        long bytesSent();

        /**
         * @return the frames the front's session has queued toward the worker and not yet written
         */
        int queuedFrames();
    }

    private final Session session;
    private final int maxWastedFramesPerSecond;
    private final int maxQueuedFrames;
    private final LongSupplier clock;
    private final Consumer<String> onViolation;
    private final byte[] header = new byte[HEADER_LENGTH];
    private State state = State.HEADER;
    private int headerBytes;
    private long payloadRemaining;
    private long windowStartNanos;
    private int wastedFrames;
    private int wastedInChunk;
    private long creditedBytesSent;
    private int windowUpdateCredit = 1;
    private long frames;

    /**
     * @param session the worker's session as the front sees it
     * @param maxWastedFramesPerSecond wasted frames allowed in one second
     * @param maxQueuedFrames frames queued toward the worker allowed when it sends a wasted frame
     * @param onViolation called once, with the rule and the offending value
     */
    WorkerFrameGuard(Session session, int maxWastedFramesPerSecond, int maxQueuedFrames, Consumer<String> onViolation)
    {
        this(session, maxWastedFramesPerSecond, maxQueuedFrames, System::nanoTime, onViolation);
    }

    /**
     * @param clock the time in nanoseconds, as {@link System#nanoTime()}
     */
    WorkerFrameGuard(Session session, int maxWastedFramesPerSecond, int maxQueuedFrames, LongSupplier clock, Consumer<String> onViolation)
    {
        if (maxWastedFramesPerSecond < 1)
            throw new IllegalArgumentException("maxWastedFramesPerSecond < 1: " + maxWastedFramesPerSecond);
        if (maxQueuedFrames < 1)
            throw new IllegalArgumentException("maxQueuedFrames < 1: " + maxQueuedFrames);
        this.session = session;
        this.maxWastedFramesPerSecond = maxWastedFramesPerSecond;
        this.maxQueuedFrames = maxQueuedFrames;
        this.clock = clock;
        this.onViolation = onViolation;
        this.windowStartNanos = clock.getAsLong();
    }

    /**
     * Inspects a chunk the worker wrote, without moving its position. Called by the one reader thread.
     */
    @Override
    public void accept(ByteBuffer chunk)
    {
        int position = chunk.position();
        int limit = chunk.limit();
        wastedInChunk = 0;
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

    /**
     * @return whether a violation was reported; nothing is inspected after it
     */
    boolean isLatched()
    {
        return state == State.LATCHED;
    }

    /**
     * @return the frame headers inspected so far
     */
    long getFrames()
    {
        return frames;
    }

    private void onHeader()
    {
        headerBytes = 0;
        frames++;
        long length = ((header[0] & 0xFFL) << 16) | ((header[1] & 0xFFL) << 8) | (header[2] & 0xFFL);
        int code = header[3] & 0xFF;
        int flags = header[4] & 0xFF;
        int streamId = ((header[5] & 0x7F) << 24) | ((header[6] & 0xFF) << 16) | ((header[7] & 0xFF) << 8) | (header[8] & 0xFF);
        FrameType type = FrameType.from(code);
        if (type == null)
        {
            violation("unknown frame type 0x" + Integer.toHexString(code) + " on stream " + streamId);
            return;
        }
        if ((streamId & 1) == 1 && streamId > session.highestOpenedStream())
        {
            violation(type + " on stream " + streamId + " the front never opened");
            return;
        }
        String waste = wasteOf(type, length, flags, streamId);
        if (waste != null && !charge(waste))
            return;
        payloadRemaining = length;
        state = length == 0 ? State.HEADER : State.PAYLOAD;
    }

    /**
     * @return what makes the frame wasted, or null when it moves a response forward
     */
    private String wasteOf(FrameType type, long length, int flags, int streamId)
    {
        return switch (type)
        {
            case SETTINGS -> (flags & FLAG_ACK) != 0 ? "SETTINGS ACK" : "SETTINGS";
            case PING -> (flags & FLAG_ACK) != 0 ? "PING ACK" : "PING";
            case PRIORITY -> "PRIORITY";
            case GOAWAY -> "GOAWAY";
            // Jetty's parser rejects it: the worker may not push.
            case PUSH_PROMISE -> null;
            case DATA, HEADERS ->
            {
                if (isClosed(streamId))
                    yield type + " on closed stream " + streamId;
                yield length == 0 && (flags & FLAG_END_STREAM) == 0 ? "empty " + type + " on stream " + streamId : null;
            }
            case CONTINUATION ->
            {
                if (isClosed(streamId))
                    yield type + " on closed stream " + streamId;
                yield length == 0 && (flags & FLAG_END_HEADERS) == 0 ? "empty " + type + " on stream " + streamId : null;
            }
            case RST_STREAM -> isClosed(streamId) ? type + " on closed stream " + streamId : null;
            case WINDOW_UPDATE ->
            {
                if (streamId != 0 && isClosed(streamId))
                    yield type + " on closed stream " + streamId;
                long sent = session.bytesSent();
                if (sent != creditedBytesSent)
                {
                    // Each write of the front earns one, each KiB of it one more, banked up to a bound.
                    long earned = (sent - creditedBytesSent + WINDOW_UPDATE_CREDIT_BYTES - 1) / WINDOW_UPDATE_CREDIT_BYTES;
                    windowUpdateCredit = (int)Math.min(MAX_WINDOW_UPDATE_CREDIT, windowUpdateCredit + earned);
                    creditedBytesSent = sent;
                }
                if (windowUpdateCredit == 0)
                    yield type + " on stream " + streamId + " with nothing sent since the last";
                windowUpdateCredit--;
                yield null;
            }
        };
    }

    /**
     * Stream 0 is the connection's, never closed; frames that may not use it are Jetty's parser's to refuse.
     */
    private boolean isClosed(int streamId)
    {
        return streamId != 0 && !session.isOpen(streamId);
    }

    /**
     * @return false when the wasted frame broke a rule (and the violation was reported)
     */
    private boolean charge(String waste)
    {
        long now = clock.getAsLong();
        if (now - windowStartNanos >= WINDOW_NANOS)
        {
            windowStartNanos = now;
            wastedFrames = 0;
        }
        if (++wastedFrames > maxWastedFramesPerSecond)
        {
            violation("flood: more than " + maxWastedFramesPerSecond + " wasted frames in one second, the last " + waste);
            return false;
        }
        // The session answers this chunk's frames only once the guard is done with it: count each wasted frame of
        // the chunk as one more answer queued.
        int queued = session.queuedFrames() + ++wastedInChunk;
        if (queued > maxQueuedFrames)
        {
            violation("not reading: " + queued + " frames queued toward the worker > max " + maxQueuedFrames + " at " + waste);
            return false;
        }
        return true;
    }

    private void violation(String message)
    {
        state = State.LATCHED;
        onViolation.accept(message);
    }
}
