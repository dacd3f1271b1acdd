package org.jettyitk.internal.pipe;

import java.io.BufferedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.GatheringByteChannel;
import java.nio.channels.spi.AbstractInterruptibleChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Deque;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import java.util.function.IntSupplier;
import java.util.stream.Collectors;

import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpURI;
import org.eclipse.jetty.http.HttpVersion;
import org.eclipse.jetty.http.MetaData;
import org.eclipse.jetty.http2.ErrorCode;
import org.eclipse.jetty.http2.HTTP2Session;
import org.eclipse.jetty.http2.api.Session;
import org.eclipse.jetty.http2.api.Stream;
import org.eclipse.jetty.http2.client.HTTP2Client;
import org.eclipse.jetty.http2.frames.DataFrame;
import org.eclipse.jetty.http2.frames.GoAwayFrame;
import org.eclipse.jetty.http2.frames.HeadersFrame;
import org.eclipse.jetty.http2.frames.ResetFrame;
import org.eclipse.jetty.http2.frames.WindowUpdateFrame;
import org.eclipse.jetty.io.AbstractConnection;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.util.BufferUtil;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.FutureCallback;
import org.eclipse.jetty.util.Promise;
import org.eclipse.jetty.util.component.LifeCycle;
import org.eclipse.jetty.util.thread.Invocable;
import org.eclipse.jetty.util.thread.Invocable.InvocationType;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.eclipse.jetty.util.thread.ScheduledExecutorScheduler;
import org.jettyitk.PipeConnector;
import org.jettyitk.internal.wire.Wire;
import org.jettyitk.internal.worker.WorkerMain;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * <p>The pipe {@link PipeEndPoint} on its own and under a real Jetty HTTP/2 session, over {@link TestPipe}s:
 * input split at every byte and at random, EOF in the middle of a frame, a peer that stops reading, and close
 * with a write pending. Every test ends with no {@code itk-pipe-*} thread left and no uncaught exception.</p>
 */
public class PipeEndPointTest
{
    private static final String TRAILERS_BODY = "hello, world";

    private final AtomicInteger names = new AtomicInteger();
    private final Deque<AutoCloseable> cleanups = new ArrayDeque<>();
    private final List<Throwable> uncaught = new CopyOnWriteArrayList<>();
    private Thread.UncaughtExceptionHandler previousHandler;
    private PipeThreads pipeThreads;
    private QueuedThreadPool threadPool;
    private ScheduledExecutorScheduler scheduler;
    private HTTP2Client client;

    @BeforeEach
    public void init() throws Exception
    {
        pipeThreads = PipeThreads.snapshot();
        previousHandler = Thread.getDefaultUncaughtExceptionHandler();
        Thread.setDefaultUncaughtExceptionHandler((thread, failure) -> uncaught.add(new AssertionError("uncaught in " + thread.getName(), failure)));
        threadPool = new QueuedThreadPool();
        threadPool.setName("pipetest-qtp");
        threadPool.start();
        scheduler = new ScheduledExecutorScheduler("pipetest-scheduler", true);
        scheduler.start();
        client = new HTTP2Client();
        client.setExecutor(threadPool);
        client.setScheduler(scheduler);
        // The front's limits, so the client side is the one the front runs.
        Wire.configureFront(client);
        client.start();
    }

    @AfterEach
    public void dispose() throws Exception
    {
        try
        {
            while (!cleanups.isEmpty())
            {
                cleanups.pop().close();
            }
            // Every pipe thread ends once its EndPoint is closed and the peer closed its ends (as a process exits).
            await().atMost(10, SECONDS).untilAsserted(() -> assertEquals(List.of(), pipeThreads.started(), "itk-pipe threads left"));
            assertEquals(List.of(), uncaught, "uncaught exceptions");
        }
        finally
        {
            Thread.setDefaultUncaughtExceptionHandler(previousHandler);
            LifeCycle.stop(client);
            LifeCycle.stop(scheduler);
            LifeCycle.stop(threadPool);
        }
    }

    @Test
    public void testHttp2SessionWithInputSplitAtEveryByte() throws Exception
    {
        // Both directions deliver one byte per read: the parsers on both sides see every possible boundary,
        // except the front's first write (preface, SETTINGS, WINDOW_UPDATE), see testWorkerReadsPrefaceSplitAtEveryByte().
        Link link = link(pipe -> afterFirstRead(pipe, () -> 1), pipe -> () -> 1);

        for (int size : new int[]{0, 1, 100, 5000})
        {
            byte[] body = randomBytes(new Random(size), size);
            Reply reply = exchange(link.session, "POST", "/echo", body).get(30, SECONDS);
            assertEquals(200, reply.status(), "status for " + size + " bytes");
            assertArrayEquals(body, reply.content(), "echo of " + size + " bytes");
        }

        // Interleaved streams, still one byte at a time.
        List<byte[]> bodies = new ArrayList<>();
        List<CompletableFuture<Reply>> replies = new ArrayList<>();
        for (int i = 0; i < 3; i++)
        {
            byte[] body = randomBytes(new Random(i), 3000 + i);
            bodies.add(body);
            replies.add(exchange(link.session, "POST", "/echo", body));
        }
        for (int i = 0; i < replies.size(); i++)
        {
            assertArrayEquals(bodies.get(i), replies.get(i).get(30, SECONDS).content(), "concurrent echo #" + i);
        }

        Reply reply = exchange(link.session, "GET", "/trailers", new byte[0]).get(30, SECONDS);
        assertEquals(TRAILERS_BODY, new String(reply.content(), StandardCharsets.UTF_8));
        assertEquals("ok", reply.trailers().get("x-check"));
    }

    @Test
    public void testHttp2SessionWithInputSplitAtRandom() throws Exception
    {
        long seed = new Random().nextLong();
        // One Random per direction: each is used by one reader thread only, so the splits follow from the seed.
        Random toServer = new Random(seed);
        Random toClient = new Random(~seed);
        Link link = link(pipe -> afterFirstRead(pipe, () -> randomChunk(toServer)), pipe -> () -> randomChunk(toClient));

        // Bodies larger than the stream windows, so WINDOW_UPDATE frames are split as well.
        Random random = new Random(seed);
        List<byte[]> bodies = new ArrayList<>();
        List<CompletableFuture<Reply>> replies = new ArrayList<>();
        for (int i = 0; i < 4; i++)
        {
            byte[] body = randomBytes(random, 1 + random.nextInt(1_500_000));
            bodies.add(body);
            replies.add(exchange(link.session, "POST", "/echo", body));
        }
        for (int i = 0; i < replies.size(); i++)
        {
            Reply reply = replies.get(i).get(30, SECONDS);
            assertEquals(200, reply.status(), "seed=" + seed);
            assertArrayEquals(bodies.get(i), reply.content(), "seed=" + seed + " echo #" + i + " of " + bodies.get(i).length + " bytes");
        }
    }

    /**
     * <p>The worker side reading the front's very first bytes one at a time.</p>
     * <p>Fails with Jetty 12.1.14: {@code ServerParser.parse()} in its {@code SETTINGS} state calls
     * {@code parseHeader()} again on every call until the preface SETTINGS body is complete, and the
     * {@code HeaderParser}, left in its {@code STREAM_ID} state, then takes 4 body bytes as a new stream id: the
     * session never sees the SETTINGS nor the request. It does not show in production as long as the front's first
     * write (64 bytes, under PIPE_BUF) reaches the worker in one read.</p>
     */
    @Test
    @Disabled("Jetty 12.1.14 ServerParser bug, described above; the front's first write is atomic (under PIPE_BUF)")
    public void testWorkerReadsPrefaceSplitAtEveryByte() throws Exception
    {
        Link link = link(pipe -> () -> 1, pipe -> () -> Integer.MAX_VALUE);

        Reply reply = exchange(link.session, "GET", "/trailers", new byte[0]).get(2, SECONDS);
        assertEquals(200, reply.status());
        assertEquals(TRAILERS_BODY, new String(reply.content(), StandardCharsets.UTF_8));
    }

    @Test
    public void testResponseSplitAtEveryBoundary() throws Exception
    {
        byte[] response = recordTrailersResponse();

        for (int cut = 1; cut < response.length; cut++)
        {
            try (Replay replay = replay(response, new int[]{cut}, false))
            {
                Reply reply = replay.reply.get(5, SECONDS);
                String where = "split at " + cut + " of " + response.length;
                assertEquals(200, reply.status(), where);
                assertEquals(TRAILERS_BODY, new String(reply.content(), StandardCharsets.UTF_8), where);
                assertEquals("ok", reply.trailers().get("x-check"), where);
            }
        }
    }

    @Test
    public void testResponseInRandomPieces() throws Exception
    {
        byte[] response = recordTrailersResponse();
        long seed = new Random().nextLong();
        Random random = new Random(seed);

        for (int i = 0; i < 100; i++)
        {
            int[] cuts = random.ints(1 + random.nextInt(20), 1, response.length).sorted().distinct().toArray();
            try (Replay replay = replay(response, cuts, false))
            {
                Reply reply = replay.reply.get(5, SECONDS);
                String where = "seed=" + seed + " cuts=" + Arrays.toString(cuts);
                assertEquals(200, reply.status(), where);
                assertEquals(TRAILERS_BODY, new String(reply.content(), StandardCharsets.UTF_8), where);
            }
        }
    }

    @Test
    public void testEndOfInputAtEveryPositionEndsTheSession() throws Exception
    {
        byte[] response = recordTrailersResponse();

        for (int cut = 1; cut < response.length; cut++)
        {
            String where = "EOF after " + cut + " of " + response.length + " bytes";
            try (Replay replay = replay(response, new int[]{cut}, true))
            {
                // The response never ended: the stream fails, the session ends, the EndPoint closes, all promptly.
                ExecutionException failure = assertThrows(ExecutionException.class, () -> replay.reply.get(5, SECONDS), where);
                assertNotNull(failure.getCause(), where);
                replay.sessionEnded.get(5, SECONDS);
                replay.endPoint.closed().get(5, SECONDS);
                assertTrue(replay.endPoint.isInputShutdown(), where);
            }
        }
    }

    @Test
    public void testEndOfInputMidFrameEndsTheConnection() throws Exception
    {
        TestPipe in = new TestPipe("eof-in");
        TestPipe out = new TestPipe("eof-out");
        PipeEndPoint endPoint = newEndPoint(in, out);
        RecordingConnection connection = open(endPoint);
        Peer peer = peer(in, out);

        // 5 of the 9 bytes of a SETTINGS frame header, then EOF.
        byte[] half = Arrays.copyOf(Http2Frames.settings(), 5);
        in.sink().write(half);
        in.sink().close();

        connection.eof.get(5, SECONDS);
        assertArrayEquals(half, connection.received());
        endPoint.closed().get(5, SECONDS);
        assertTrue(endPoint.isInputShutdown());
        // The writer closed the peer's input once the EndPoint closed.
        peer.eof.get(5, SECONDS);
    }

    @Test
    public void testStalledPeerBlocksOnlyTheWriterThread() throws Exception
    {
        TestPipe in = new TestPipe("stall-in");
        TestPipe out = new TestPipe("stall-out");
        PipeEndPoint endPoint = newEndPoint(in, out);
        RecordingConnection connection = open(endPoint);
        // The peer reads nothing until told.
        out.stallReads(true);
        Peer peer = peer(in, out);

        byte[] outbound = randomBytes(new Random(1), 1024 * 1024);
        FutureCallback written = new FutureCallback();
        endPoint.write(written, ByteBuffer.wrap(outbound));

        // The writer fills the pipe, then blocks on it.
        await().atMost(5, SECONDS).until(() -> out.buffered() == TestPipe.DEFAULT_CAPACITY);
        Thread writer = pipeThread("itk-pipe-writer-", endPoint);
        await().atMost(5, SECONDS).until(() -> writer.getState() == Thread.State.WAITING);
        assertFalse(written.isDone(), "write completed with a stalled peer");
        assertFalse(endPoint.flush(ByteBuffer.wrap(new byte[]{1})), "flush() with a write pending");
        assertEquals(List.of(writer.getName()), threadsBlockedInPipeWrite(), "threads blocked writing");

        // Reading goes on.
        byte[] inbound = randomBytes(new Random(2), 20_000);
        in.sink().write(inbound);
        await().atMost(5, SECONDS).until(() -> connection.received().length == inbound.length);
        assertArrayEquals(inbound, connection.received());

        // No executor thread is held.
        CompletableFuture<Void> ran = new CompletableFuture<>();
        threadPool.execute(() -> ran.complete(null));
        ran.get(5, SECONDS);
        assertFalse(written.isDone());

        // The peer resumes: the write completes, every byte in order.
        out.stallReads(false);
        written.get(10, SECONDS);
        await().atMost(5, SECONDS).until(() -> peer.received().length == outbound.length);
        assertArrayEquals(outbound, peer.received());

        // A second write after the stall goes through as well.
        FutureCallback again = new FutureCallback();
        endPoint.write(again, BufferUtil.toBuffer("again"));
        again.get(5, SECONDS);
        await().atMost(5, SECONDS).until(() -> peer.received().length == outbound.length + 5);
    }

    /**
     * <p>A connection that keeps up with its peer writes without a thread hand-off: a flush is copied into the
     * write-behind queue and completes at once, until {@link Wire#PIPE_WRITE_BEHIND_LIMIT} bytes wait there.
     * Then the write stays pending until the writer has written the queue down: the queue is bounded.</p>
     */
    @Test
    public void testWritesCompleteAtOnceUpToTheWriteBehindLimit() throws Exception
    {
        TestPipe in = new TestPipe("behind-in");
        TestPipe out = new TestPipe("behind-out");
        PipeEndPoint endPoint = newEndPoint(in, out);
        open(endPoint);
        out.stallReads(true);
        Peer peer = peer(in, out);

        byte[] chunk = new byte[16 * 1024];
        ByteArrayOutputStream expected = new ByteArrayOutputStream();
        Random random = new Random(4);
        long accepted = 0;
        FutureCallback pending;
        while (true)
        {
            random.nextBytes(chunk);
            FutureCallback written = new FutureCallback();
            endPoint.write(written, ByteBuffer.wrap(chunk));
            expected.write(chunk);
            if (!written.isDone())
            {
                pending = written;
                break;
            }
            written.get();
            accepted += chunk.length;
            assertTrue(accepted <= Wire.PIPE_WRITE_BEHIND_LIMIT + TestPipe.DEFAULT_CAPACITY, () -> "the write-behind queue is unbounded");
        }
        assertTrue(accepted >= Wire.PIPE_WRITE_BEHIND_LIMIT - chunk.length, "writes completed at once: " + accepted);
        assertFalse(pending.isDone());

        out.stallReads(false);
        pending.get(5, SECONDS);
        await().atMost(5, SECONDS).until(() -> peer.received().length == expected.size());
        assertArrayEquals(expected.toByteArray(), peer.received());
    }

    /**
     * <p>A connection whose fill interest does not block (Jetty's HTTP/2 connection) is run by the reader thread,
     * in non-blocking mode, with no hand-off; a blocking one runs on the executor, never on the reader.</p>
     */
    @Test
    public void testOnlyNonBlockingFillInterestRunsOnTheReaderThread() throws Exception
    {
        TestPipe in = new TestPipe("invoke-in");
        TestPipe out = new TestPipe("invoke-out");
        PipeEndPoint endPoint = newEndPoint(in, out);
        endPoint.onOpen();
        cleanups.push(() ->
        {
            endPoint.close();
            out.killReader();
            in.sink().close();
        });
        String reader = pipeThread("itk-pipe-reader-", endPoint).getName();

        Map<InvocationType, String> invokedOn = new EnumMap<>(InvocationType.class);
        for (InvocationType type : InvocationType.values())
        {
            CompletableFuture<String> invoked = new CompletableFuture<>();
            endPoint.fillInterested(Callback.from(type,
                () -> invoked.complete(Thread.currentThread().getName() + (Invocable.isNonBlockingInvocation() ? " non-blocking" : "")),
                invoked::completeExceptionally));
            in.sink().write(type.ordinal());
            in.sink().flush();
            invokedOn.put(type, invoked.get(5, SECONDS));
            ByteBuffer buffer = BufferUtil.allocate(16);
            assertEquals(1, endPoint.fill(buffer));
        }

        assertAll(
            () -> assertEquals(reader + " non-blocking", invokedOn.get(InvocationType.NON_BLOCKING)),
            () -> assertEquals(reader + " non-blocking", invokedOn.get(InvocationType.EITHER)),
            () -> assertTrue(invokedOn.get(InvocationType.BLOCKING).matches("pipetest-qtp-\\d+"), invokedOn.get(InvocationType.BLOCKING)));
    }

    @Test
    public void testCloseFailsPendingWrite() throws Exception
    {
        TestPipe in = new TestPipe("close-in");
        TestPipe out = new TestPipe("close-out");
        PipeEndPoint endPoint = newEndPoint(in, out);
        open(endPoint);
        // The peer never reads: its process is stuck.
        out.stallReads(true);

        FutureCallback written = new FutureCallback();
        endPoint.write(written, ByteBuffer.wrap(new byte[1024 * 1024]));
        await().atMost(5, SECONDS).until(() -> out.buffered() == TestPipe.DEFAULT_CAPACITY);
        assertFalse(written.isDone());

        endPoint.close();

        ExecutionException failure = assertThrows(ExecutionException.class, () -> written.get(5, SECONDS));
        assertNotNull(failure.getCause());
        endPoint.closed().get(5, SECONDS);

        // Later writes fail at once.
        FutureCallback late = new FutureCallback();
        endPoint.write(late, BufferUtil.toBuffer("late"));
        assertThrows(ExecutionException.class, () -> late.get(5, SECONDS));

        // As with a real pipe, the writer stays blocked until the peer goes away: its exit breaks the pipe
        // and closes its output (EOF for the reader), and then both threads end (checked after each test).
        out.killReader();
        in.sink().close();
    }

    /**
     * <p>Once a write's callback has failed, its buffers belong to their owner again: Jetty's HTTP/2 flusher
     * releases them to the connector's shared pool, and the next session that acquires one (another worker's,
     * another tenant's) fills it. The EndPoint must neither read nor move them any more.</p>
     */
    @Test
    public void testClosedEndPointNeverTouchesBuffersOfFailedWrite() throws Exception
    {
        TestPipe in = new TestPipe("released-in");
        TestPipe out = new TestPipe("released-out");
        PipeEndPoint endPoint = newEndPoint(in, out);
        open(endPoint);
        out.stallReads(true);
        Peer peer = peer(in, out);

        // Direct, as HTTP2Client's output buffers are by default.
        ByteBuffer buffer = ByteBuffer.allocateDirect(1024 * 1024);
        buffer.put(new byte[buffer.capacity()]).flip();
        FutureCallback written = new FutureCallback();
        endPoint.write(written, buffer);
        await().atMost(5, SECONDS).until(() -> out.buffered() == TestPipe.DEFAULT_CAPACITY);

        endPoint.close();
        assertThrows(ExecutionException.class, () -> written.get(5, SECONDS));

        // The buffer is back in the pool, and another session writes its frames into it.
        byte[] secret = "another tenant's request: Cookie: session=SECRET".getBytes(StandardCharsets.US_ASCII);
        buffer.clear();
        buffer.put(secret).flip();
        out.stallReads(false);
        peer.eof.get(5, SECONDS);

        String received = new String(peer.received(), StandardCharsets.US_ASCII);
        assertAll(
            () -> assertFalse(received.contains("SECRET"), "the closed EndPoint wrote another owner's bytes to its peer"),
            () -> assertEquals(0, buffer.position(), "the closed EndPoint moved a buffer it no longer owns"));
    }

    @Test
    public void testFlushThatFitsTheRoomIsWrittenByTheFlushingThread() throws Exception
    {
        DirectPipe pipe = new DirectPipe("direct", () -> Integer.MAX_VALUE);

        assertTrue(pipe.endPoint.flush(BufferUtil.toBuffer("hello "), BufferUtil.toBuffer("world")));

        assertEquals(List.of("direct by " + Thread.currentThread().getName()), pipe.writes);
        await().atMost(5, SECONDS).until(() -> new String(pipe.peer.received(), StandardCharsets.US_ASCII), "hello world"::equals);
    }

    @Test
    public void testFlushLargerThanTheRoomGoesToTheWriter() throws Exception
    {
        DirectPipe pipe = new DirectPipe("no-room", () -> 10);

        assertTrue(pipe.endPoint.flush(BufferUtil.toBuffer("hello "), BufferUtil.toBuffer("world")));

        await().atMost(5, SECONDS).until(() -> new String(pipe.peer.received(), StandardCharsets.US_ASCII), "hello world"::equals);
        assertEquals(List.of("queued by itk-pipe-writer-" + pipe.name()), pipe.writes);
    }

    @Test
    public void testRestOfAShortDirectWriteGoesToTheWriterAfterIt() throws Exception
    {
        // A non-blocking pipe that takes 5 bytes, then is full.
        DirectPipe pipe = new DirectPipe("short", () -> Integer.MAX_VALUE);
        pipe.channel.accept.set(5);

        assertTrue(pipe.endPoint.flush(BufferUtil.toBuffer("hello "), BufferUtil.toBuffer("world")));

        await().atMost(5, SECONDS).until(() -> new String(pipe.peer.received(), StandardCharsets.US_ASCII), "hello world"::equals);
        assertEquals(List.of("direct by " + Thread.currentThread().getName(), "queued by itk-pipe-writer-" + pipe.name()), pipe.writes);
    }

    @Test
    public void testFlushWithRoomWaitsBehindQueuedBytes() throws Exception
    {
        AtomicBoolean roomForAll = new AtomicBoolean();
        TestPipe[] out = new TestPipe[1];
        DirectPipe pipe = new DirectPipe("behind", () -> roomForAll.get() ? Integer.MAX_VALUE : TestPipe.DEFAULT_CAPACITY - out[0].buffered());
        out[0] = pipe.out;
        pipe.out.stallReads(true);
        byte[] large = randomBytes(new Random(), 3 * TestPipe.DEFAULT_CAPACITY);
        assertTrue(pipe.endPoint.flush(ByteBuffer.wrap(large, 0, TestPipe.DEFAULT_CAPACITY)));
        await().atMost(5, SECONDS).until(() -> pipe.out.buffered() == TestPipe.DEFAULT_CAPACITY);
        assertEquals(List.of("direct by " + Thread.currentThread().getName()), pipe.writes);
        // The pipe is full: this one goes to the writer, which blocks.
        assertTrue(pipe.endPoint.flush(ByteBuffer.wrap(large, TestPipe.DEFAULT_CAPACITY, TestPipe.DEFAULT_CAPACITY)));
        await().atMost(5, SECONDS).until(() -> pipe.writes.size() == 2);

        // Now the room says yes to everything, but the writer has bytes to write first: the next flush must queue
        // behind them, not write ahead of them (and block on the full pipe).
        roomForAll.set(true);
        CompletableFuture<Boolean> third = CompletableFuture.supplyAsync(() ->
        {
            try
            {
                return pipe.endPoint.flush(ByteBuffer.wrap(large, 2 * TestPipe.DEFAULT_CAPACITY, TestPipe.DEFAULT_CAPACITY));
            }
            catch (IOException x)
            {
                throw new RuntimeException(x);
            }
        });
        assertTrue(third.get(5, SECONDS), "the flush did not return while the writer was blocked");
        pipe.out.stallReads(false);

        await().atMost(5, SECONDS).until(() -> pipe.peer.received().length == large.length);
        assertArrayEquals(large, pipe.peer.received());
        String writer = "queued by itk-pipe-writer-" + pipe.name();
        assertEquals(List.of("direct by " + Thread.currentThread().getName(), writer, writer), pipe.writes);
    }

    @Test
    public void testInterruptedFlushingThreadKeepsThePipeOpen() throws Exception
    {
        DirectPipe pipe = new DirectPipe("interrupted", () -> Integer.MAX_VALUE);

        Thread.currentThread().interrupt();
        boolean flushed = pipe.endPoint.flush(BufferUtil.toBuffer("still here"));
        boolean stillInterrupted = Thread.interrupted();

        assertTrue(flushed);
        assertTrue(stillInterrupted, "the flush swallowed the thread's interrupt");
        assertTrue(pipe.channel.isOpen(), "the interrupt closed the pipe");
        await().atMost(5, SECONDS).until(() -> new String(pipe.peer.received(), StandardCharsets.US_ASCII), "still here"::equals);
    }

    @Test
    public void testLateWindowUpdatesFromTheFrontKeepTheSession() throws Exception
    {
        Link link = link(pipe -> () -> Integer.MAX_VALUE, pipe -> () -> Integer.MAX_VALUE);
        assertEquals(200, exchange(link.session, "GET", "/trailers", new byte[0]).get(5, SECONDS).status());

        // Stream 1 has ended on both sides. The front, consuming its last bytes, still updates its window, as it
        // does for every large response: hundreds of times a second on a busy vhost.
        List<WindowUpdateFrame> updates = Collections.nCopies(500, new WindowUpdateFrame(1, 1));
        FutureCallback sent = new FutureCallback();
        ((HTTP2Session)link.session).frames(null, updates, sent);
        sent.get(5, SECONDS);

        Reply reply = exchange(link.session, "GET", "/trailers", new byte[0]).get(5, SECONDS);
        assertEquals(200, reply.status());
        assertFalse(link.session.isClosed(), "the worker ended the session");
    }

    private Link link(Function<TestPipe, IntSupplier> serverReadLimit, Function<TestPipe, IntSupplier> clientReadLimit) throws Exception
    {
        Link link = new Link(serverReadLimit, clientReadLimit);
        cleanups.push(link);
        return link;
    }

    /**
     * @return the exact bytes a Jetty HTTP/2 server writes for a GET of {@code /trailers}, from its preface on
     */
    private byte[] recordTrailersResponse() throws Exception
    {
        try (Link link = new Link(pipe -> () -> Integer.MAX_VALUE, pipe -> () -> Integer.MAX_VALUE))
        {
            Reply reply = exchange(link.session, "GET", "/trailers", new byte[0]).get(5, SECONDS);
            assertEquals(200, reply.status());
            assertEquals("ok", reply.trailers().get("x-check"));
            return link.serverOutput.toByteArray();
        }
    }

    /**
     * Plays recorded server bytes to a fresh client session: the bytes are written once the client's request
     * HEADERS arrived, in pieces ending at the cuts (a read never spans two pieces), then the rest, or EOF.
     */
    private Replay replay(byte[] response, int[] cuts, boolean eofAtLastCut) throws Exception
    {
        Replay replay = new Replay(response, cuts, eofAtLastCut);
        replay.reply = exchange(replay.session, "GET", "/trailers", new byte[0]);
        return replay;
    }

    private PipeEndPoint newEndPoint(TestPipe input, TestPipe output)
    {
        return newEndPoint(input, output.sink());
    }

    /**
     * @return the front's side of a worker's pipes: as {@link Process#getOutputStream()}, the output is buffered,
     * so that each flush is one write to the pipe
     */
    private PipeEndPoint newFrontEndPoint(TestPipe input, TestPipe output)
    {
        return newEndPoint(input, new BufferedOutputStream(output.sink(), 8192));
    }

    private PipeEndPoint newEndPoint(TestPipe input, OutputStream output)
    {
        PipeEndPoint endPoint = new PipeEndPoint(scheduler, threadPool, input.source(), output, "pipetest-" + names.incrementAndGet());
        endPoint.setIdleTimeout(-1);
        return endPoint;
    }

    private RecordingConnection open(PipeEndPoint endPoint)
    {
        RecordingConnection connection = new RecordingConnection(endPoint, threadPool);
        endPoint.setConnection(connection);
        endPoint.onOpen();
        connection.onOpen();
        cleanups.push(endPoint::close);
        return connection;
    }

    /**
     * A peer process on the other ends: it reads everything (unless its pipe stalls), and when it sees EOF it
     * exits, closing its output.
     */
    private Peer peer(TestPipe toEndPoint, TestPipe fromEndPoint)
    {
        Peer peer = new Peer(fromEndPoint.source(), toEndPoint.sink());
        peer.start();
        cleanups.push(() ->
        {
            fromEndPoint.killReader();
            toEndPoint.sink().close();
            peer.join(5000);
        });
        return peer;
    }

    private static Thread pipeThread(String prefix, PipeEndPoint endPoint)
    {
        String name = endPoint.toString().replaceAll(".*\\[(.*)]", "$1");
        return Thread.getAllStackTraces().keySet().stream()
            .filter(thread -> thread.getName().equals(prefix + name))
            .findFirst()
            .orElseThrow(() -> new AssertionError("no thread " + prefix + name));
    }

    private static List<String> threadsBlockedInPipeWrite()
    {
        return Thread.getAllStackTraces().entrySet().stream()
            .filter(entry -> Arrays.stream(entry.getValue()).anyMatch(frame ->
                frame.getClassName().equals(TestPipe.class.getName()) && frame.getMethodName().equals("doWrite")))
            .map(entry -> entry.getKey().getName())
            .sorted()
            .collect(Collectors.toList());
    }

    /**
     * @return a read limit that lets the first read take all there is (the front's first write), then applies the limit
     */
    private static IntSupplier afterFirstRead(TestPipe pipe, IntSupplier limit)
    {
        return () -> pipe.read() == 0 ? Integer.MAX_VALUE : limit.getAsInt();
    }

    private static int randomChunk(Random random)
    {
        // Mostly tiny reads, so frame headers split often; sometimes large ones.
        return switch (random.nextInt(4))
        {
            case 0 -> 1;
            case 1 -> 1 + random.nextInt(9);
            case 2 -> 1 + random.nextInt(100);
            default -> 1 + random.nextInt(20_000);
        };
    }

    private static byte[] randomBytes(Random random, int size)
    {
        byte[] bytes = new byte[size];
        random.nextBytes(bytes);
        return bytes;
    }

    static CompletableFuture<Reply> exchange(Session session, String method, String path, byte[] body)
    {
        ReplyListener listener = new ReplyListener();
        MetaData.Request request = new MetaData.Request(method, HttpURI.from("http://pipe" + path), HttpVersion.HTTP_2, HttpFields.EMPTY, body.length);
        session.newStream(new HeadersFrame(request, null, body.length == 0), new Promise<>()
        {
            @Override
            public void succeeded(Stream stream)
            {
                if (body.length > 0)
                    stream.data(new DataFrame(stream.getId(), ByteBuffer.wrap(body), true), Callback.from(() -> {}, listener.result::completeExceptionally));
            }

            @Override
            public void failed(Throwable failure)
            {
                listener.result.completeExceptionally(failure);
            }
        }, listener);
        return listener.result;
    }

    record Reply(int status, byte[] content, HttpFields trailers)
    {
    }

    private static class ReplyListener implements Stream.Listener
    {
        private final CompletableFuture<Reply> result = new CompletableFuture<>();
        private final ByteArrayOutputStream content = new ByteArrayOutputStream();
        private volatile int status;
        private volatile HttpFields trailers = HttpFields.EMPTY;

        @Override
        public void onHeaders(Stream stream, HeadersFrame frame)
        {
            MetaData metaData = frame.getMetaData();
            if (metaData.isResponse())
                status = ((MetaData.Response)metaData).getStatus();
            else
                trailers = metaData.getHttpFields();
            if (metaData.isResponse() && frame.isEndStream())
                complete();
            else
                stream.demand();
        }

        @Override
        public void onDataAvailable(Stream stream)
        {
            while (true)
            {
                Stream.Data data = stream.readData();
                if (data == null)
                {
                    stream.demand();
                    return;
                }
                ByteBuffer buffer = data.frame().getByteBuffer();
                synchronized (content)
                {
                    content.write(BufferUtil.toArray(buffer), 0, buffer.remaining());
                }
                boolean last = data.frame().isEndStream();
                data.release();
                if (last)
                {
                    complete();
                    return;
                }
            }
        }

        @Override
        public void onReset(Stream stream, ResetFrame frame, Callback callback)
        {
            result.completeExceptionally(new IOException("reset " + ErrorCode.toString(frame.getError(), "?")));
            callback.succeeded();
        }

        @Override
        public void onFailure(Stream stream, int error, String reason, Throwable failure, Callback callback)
        {
            result.completeExceptionally(failure != null ? failure : new IOException(reason));
            callback.succeeded();
        }

        private void complete()
        {
            synchronized (content)
            {
                result.complete(new Reply(status, content.toByteArray(), trailers));
            }
        }
    }

    /**
     * A Jetty HTTP/2 server on a {@link PipeConnector} and an {@link HTTP2Client} session over a
     * {@link PipeTransport}, connected by two pipes; the server's output is recorded.
     */
    private final class Link implements AutoCloseable
    {
        private final TestPipe toServer = new TestPipe("to-server");
        private final TestPipe toClient = new TestPipe("to-client");
        private final Tee serverOutput;
        private final Server server;
        private final PipeConnector connector;
        private final PipeEndPoint clientEndPoint;
        private final Session session;

        private Link(Function<TestPipe, IntSupplier> serverReadLimit, Function<TestPipe, IntSupplier> clientReadLimit) throws Exception
        {
            toServer.setReadLimit(serverReadLimit.apply(toServer));
            toClient.setReadLimit(clientReadLimit.apply(toClient));
            serverOutput = new Tee(toClient.sink());
            server = new Server(threadPool, scheduler, null);
            // The worker's HTTP/2, without its connection-facts customizer (these requests come from no front).
            connector = new PipeConnector(server, toServer.source(), serverOutput, WorkerMain.newConnectionFactory(new HttpConfiguration()));
            server.addConnector(connector);
            server.setHandler(new EchoHandler());
            server.start();
            clientEndPoint = newFrontEndPoint(toClient, toServer);
            session = client.connect(new PipeTransport(clientEndPoint), null, clientEndPoint.getRemoteSocketAddress(), new Session.Listener() {}).get(5, SECONDS);
        }

        @Override
        public void close() throws Exception
        {
            // As the front does: GOAWAY, then EOF; the server side closes in turn, which is EOF for the client.
            session.close(ErrorCode.NO_ERROR.code, "done", Callback.NOOP);
            clientEndPoint.close();
            connector.getClosed().get(5, SECONDS);
            server.stop();
            // The server "process" exits: its output closes, which is EOF for the client's reader thread.
            closeQuietly(toClient.sink());
            clientEndPoint.closed().get(5, SECONDS);
        }
    }

    /**
     * A client session over a {@link PipeEndPoint} whose peer plays recorded bytes.
     */
    private final class Replay implements AutoCloseable
    {
        private final TestPipe toClient = new TestPipe("replay-to-client");
        private final TestPipe toPeer = new TestPipe("replay-to-peer");
        private final PipeEndPoint endPoint;
        private final Thread peer;
        private final CompletableFuture<Void> sessionEnded = new CompletableFuture<>();
        private final Session session;
        private CompletableFuture<Reply> reply;

        private Replay(byte[] response, int[] cuts, boolean eofAtLastCut) throws Exception
        {
            toClient.setSegmented(true);
            endPoint = newFrontEndPoint(toClient, toPeer);
            peer = new Thread(() -> play(response, cuts, eofAtLastCut), "pipetest-replay-peer");
            peer.start();
            session = client.connect(new PipeTransport(endPoint), null, endPoint.getRemoteSocketAddress(), new Session.Listener()
            {
                @Override
                public void onClose(Session session, GoAwayFrame frame, Callback callback)
                {
                    sessionEnded.complete(null);
                    callback.succeeded();
                }

                @Override
                public void onFailure(Session session, Throwable failure, Callback callback)
                {
                    sessionEnded.complete(null);
                    callback.succeeded();
                }
            }).get(5, SECONDS);
        }

        private void play(byte[] response, int[] cuts, boolean eofAtLastCut)
        {
            OutputStream out = toClient.sink();
            try
            {
                Http2Frames.Reader reader = new Http2Frames.Reader(toPeer.source(), true);
                boolean played = false;
                Http2Frames.Frame frame;
                while ((frame = reader.next()) != null)
                {
                    if (played || frame.type() != Http2Frames.HEADERS)
                        continue;
                    played = true;
                    int from = 0;
                    for (int cut : cuts)
                    {
                        out.write(response, from, cut - from);
                        from = cut;
                    }
                    if (eofAtLastCut)
                        out.close();
                    else
                        out.write(response, from, response.length - from);
                }
            }
            catch (IOException x)
            {
                // The client went away mid-frame: this peer exits.
            }
            finally
            {
                // Exiting closes this peer's output: EOF for the client's reader thread.
                closeQuietly(toClient.sink());
            }
        }

        @Override
        public void close() throws Exception
        {
            endPoint.close();
            peer.join(5000);
            assertFalse(peer.isAlive(), "replay peer still running");
        }
    }

    private static class RecordingConnection extends AbstractConnection
    {
        private final ByteArrayOutputStream received = new ByteArrayOutputStream();
        private final CompletableFuture<Void> eof = new CompletableFuture<>();

        private RecordingConnection(EndPoint endPoint, Executor executor)
        {
            super(endPoint, executor);
        }

        @Override
        public void onOpen()
        {
            super.onOpen();
            fillInterested();
        }

        @Override
        public void onFillable()
        {
            try
            {
                while (true)
                {
                    ByteBuffer buffer = BufferUtil.allocate(4096);
                    int filled = getEndPoint().fill(buffer);
                    if (filled > 0)
                    {
                        synchronized (received)
                        {
                            received.writeBytes(BufferUtil.toArray(buffer));
                        }
                    }
                    else if (filled == 0)
                    {
                        fillInterested();
                        return;
                    }
                    else
                    {
                        eof.complete(null);
                        getEndPoint().close();
                        return;
                    }
                }
            }
            catch (IOException x)
            {
                eof.completeExceptionally(x);
                getEndPoint().close(x);
            }
        }

        private byte[] received()
        {
            synchronized (received)
            {
                return received.toByteArray();
            }
        }
    }

    /**
     * The other side of a pipe pair: reads all it is given and exits (closing its output) at EOF.
     */
    private static class Peer extends Thread
    {
        private final InputStream input;
        private final OutputStream output;
        private final ByteArrayOutputStream received = new ByteArrayOutputStream();
        private final CompletableFuture<Void> eof = new CompletableFuture<>();

        private Peer(InputStream input, OutputStream output)
        {
            super("pipetest-peer");
            this.input = input;
            this.output = output;
        }

        @Override
        public void run()
        {
            byte[] chunk = new byte[8192];
            try
            {
                int read;
                while ((read = input.read(chunk)) >= 0)
                {
                    synchronized (received)
                    {
                        received.write(chunk, 0, read);
                    }
                }
                eof.complete(null);
            }
            catch (IOException x)
            {
                eof.completeExceptionally(x);
            }
            finally
            {
                closeQuietly(output);
            }
        }

        private byte[] received()
        {
            synchronized (received)
            {
                return received.toByteArray();
            }
        }
    }

    private static void closeQuietly(OutputStream output)
    {
        try
        {
            output.close();
        }
        catch (IOException ignored)
        {
            // Closing a pipe end does not fail.
        }
    }

    /**
     * An open EndPoint whose output pipe is also given as a direct output, with a peer reading it. Both ways of
     * writing record who wrote, in order.
     */
    private final class DirectPipe
    {
        private final TestPipe in;
        private final TestPipe out;
        private final List<String> writes = new CopyOnWriteArrayList<>();
        private final SinkChannel channel;
        private final PipeEndPoint endPoint;
        private final Peer peer;

        private DirectPipe(String name, IntSupplier room)
        {
            in = new TestPipe(name + "-in");
            out = new TestPipe(name + "-out");
            channel = new SinkChannel(out.sink(), writes);
            endPoint = newEndPoint(in, new FilterOutputStream(out.sink())
            {
                @Override
                public void write(byte[] bytes, int offset, int length) throws IOException
                {
                    writes.add("queued by " + Thread.currentThread().getName());
                    out.write(bytes, offset, length);
                }
            });
            endPoint.setDirectOutput(channel, room);
            open(endPoint);
            peer = peer(in, out);
        }

        private String name()
        {
            return endPoint.toString().replaceAll(".*\\[(.*)]", "$1");
        }
    }

    /**
     * A pipe's sink as a channel that, as {@link java.nio.channels.FileChannel}, is interruptible: written by an
     * interrupted thread, it closes. It can also take only part of a write, as a non-blocking pipe.
     */
    private static class SinkChannel extends AbstractInterruptibleChannel implements GatheringByteChannel
    {
        private final OutputStream sink;
        private final List<String> writes;
        /** The bytes it takes before it is full, as a non-blocking pipe would be. */
        private final AtomicInteger accept = new AtomicInteger(Integer.MAX_VALUE);

        private SinkChannel(OutputStream sink, List<String> writes)
        {
            this.sink = sink;
            this.writes = writes;
        }

        @Override
        public long write(ByteBuffer[] sources, int offset, int length) throws IOException
        {
            boolean completed = false;
            begin();
            try
            {
                if (!isOpen())
                    throw new ClosedChannelException();
                long written = 0;
                for (int i = offset; i < offset + length && accept.get() > 0; i++)
                {
                    int taken = Math.min(sources[i].remaining(), accept.get());
                    byte[] bytes = new byte[taken];
                    sources[i].get(bytes);
                    sink.write(bytes);
                    accept.addAndGet(-taken);
                    written += taken;
                }
                if (written > 0)
                    writes.add("direct by " + Thread.currentThread().getName());
                completed = true;
                return written;
            }
            finally
            {
                end(completed);
            }
        }

        @Override
        public long write(ByteBuffer[] sources) throws IOException
        {
            return write(sources, 0, sources.length);
        }

        @Override
        public int write(ByteBuffer source) throws IOException
        {
            return (int)write(new ByteBuffer[]{source});
        }

        @Override
        protected void implCloseChannel()
        {
        }
    }

    /**
     * Copies what a server writes, to replay it later.
     */
    private static class Tee extends FilterOutputStream
    {
        private final ByteArrayOutputStream copy = new ByteArrayOutputStream();

        private Tee(OutputStream out)
        {
            super(out);
        }

        @Override
        public void write(byte[] bytes, int offset, int length) throws IOException
        {
            synchronized (copy)
            {
                copy.write(bytes, offset, length);
            }
            out.write(bytes, offset, length);
        }

        @Override
        public void write(int b) throws IOException
        {
            write(new byte[]{(byte)b}, 0, 1);
        }

        private byte[] toByteArray()
        {
            synchronized (copy)
            {
                return copy.toByteArray();
            }
        }
    }

    /**
     * POST {@code /echo} answers the request body; GET {@code /trailers} answers {@value #TRAILERS_BODY} and a
     * trailer {@code x-check: ok}.
     */
    private static class EchoHandler extends Handler.Abstract
    {
        @Override
        public boolean handle(Request request, Response response, Callback callback)
        {
            response.setStatus(200);
            if ("/trailers".equals(Request.getPathInContext(request)))
            {
                HttpFields trailers = HttpFields.build().put("x-check", "ok");
                response.setTrailersSupplier(() -> trailers);
                response.write(true, BufferUtil.toBuffer(TRAILERS_BODY), callback);
                return true;
            }
            Content.copy(request, response, callback);
            return true;
        }
    }
}
