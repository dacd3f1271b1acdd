package org.jettyitk.internal.front;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.function.IntFunction;
import java.util.function.UnaryOperator;

import org.eclipse.jetty.client.BytesRequestContent;
import org.eclipse.jetty.client.CompletableResponseListener;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.component.LifeCycle;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.eclipse.jetty.util.thread.ScheduledExecutorScheduler;
import org.jettyitk.ItkHandler;
import org.jettyitk.VirtualHost;
import org.jettyitk.internal.pipe.Http2Frames;
import org.jettyitk.internal.pipe.PipeThreads;
import org.jettyitk.internal.wire.Wire;
import org.jettyitk.tests.ItkTestServer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import static java.util.concurrent.TimeUnit.MILLISECONDS;
import static java.util.concurrent.TimeUnit.SECONDS;
import static org.awaitility.Awaitility.await;
import static org.jettyitk.internal.pipe.Http2Frames.concat;
import static org.jettyitk.internal.pipe.Http2Frames.data;
import static org.jettyitk.internal.pipe.Http2Frames.frame;
import static org.jettyitk.internal.pipe.Http2Frames.headers;
import static org.jettyitk.internal.pipe.Http2Frames.literal;
import static org.jettyitk.internal.pipe.Http2Frames.settings;
import static org.jettyitk.internal.pipe.Http2Frames.status;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * <p>A front ({@link org.jettyitk.ItkHandler} behind a loopback {@code ServerConnector}) with two vhosts whose
 * workers are {@link FakeWorkerProcess}es: {@code evil}, whose first worker attacks the front with hostile
 * HTTP/2 bytes, and {@code good}, a well-behaved in-JVM Jetty worker. No process is spawned.</p>
 * <p>For each attack (DESIGN: everything the worker sends is untrusted; a violation kills that worker and fails
 * only its streams): the request to {@code evil} ends with a 502 (503 when the worker never became ready) or an
 * aborted response, never a hang nor a 200; the hostile process is killed; the next request to {@code evil}
 * gets a fresh worker; and requests to {@code good}, sent all along, keep succeeding.</p>
 * <p>Then a seeded mutation loop: real workers (vhosts {@code mutant0..7}) whose output bytes are mutated after
 * their SETTINGS; every request to them must end (any status, or a failure), every request to {@code good} sent
 * at the same time must succeed, and {@code good}'s worker is never restarted. Run again with
 * {@code -Ditk.seed=<seed>} to replay a failure.</p>
 * <p>No worker process runs, but {@code ItkHandler.start()} chowns each vhost's work directory to its uid, which
 * needs root (or CAP_CHOWN): without it the class is skipped.</p>
 */
public class HostileWorkerTest
{
    private static final Logger LOG = LoggerFactory.getLogger(HostileWorkerTest.class);
    private static final String EVIL = "evil";
    private static final String GOOD = "good";
    private static final int EVIL_ID = 41001;
    private static final int GOOD_ID = 41002;
    private static final long SPAWN_TIMEOUT_MILLIS = 5000;
    private static final long NEVER_READY_SPAWN_TIMEOUT_MILLIS = 1000;
    /** Longest a request to a hostile worker may take: longer is a hang. */
    private static final long EVIL_TIMEOUT_MILLIS = 10_000;
    private static final long GOOD_TIMEOUT_MILLIS = 10_000;
    private static final int FLOOD_FRAMES = 100_000;
    /** Frames the front may queue toward a worker beyond its bound: its own GOAWAY and the like. */
    private static final int QUEUED_FRAMES_SLACK = 4;
    /** Mutations fall in the first bytes written after arming: a response, plus a new worker's preface tail. */
    private static final int MUTATION_SPAN = 120;
    private static final int MUTATION_ITERATIONS = 250;
    private static final int MUTATION_MIN_ITERATIONS = 100;
    private static final long MUTATION_BUDGET_MILLIS = 18_000;
    /** The mutated vhosts' request timeout: a response left incomplete by a mutation becomes a 504. */
    private static final long MUTATION_REQUEST_TIMEOUT_MILLIS = 300;
    /** Longest a mutated request may take: the front's request timeout, plus margin. */
    private static final long MUTATION_EVIL_TIMEOUT_MILLIS = 3000;
    private static final int MUTATION_MAX_HANGS = 5;
    /**
     * Mutated workers crash often, and a few crashes in a row pause a vhost's spawning (the handler's crashLimit):
     * the loop goes round several mutated vhosts, so that most iterations reach a worker rather than the backoff's
     * 503.
     */
    private static final int MUTANTS = 8;
    /** The mutated vhosts' longest crash backoff: short, so that a paused vhost is back soon after the loop. */
    private static final long MUTATION_MAX_CRASH_BACKOFF_MILLIS = 200;
    private static final int MUTANT_FIRST_ID = 41010;
    /** A kill follows a violation within milliseconds: longer means no kill. */
    private static final long KILL_WAIT_MILLIS = 1000;

    private static QueuedThreadPool workerThreads;
    private static ScheduledExecutorScheduler workerScheduler;

    private final List<Throwable> uncaught = new CopyOnWriteArrayList<>();
    private Thread.UncaughtExceptionHandler previousHandler;
    private PipeThreads pipeThreads;
    private FakeWorkerLauncher launcher;
    private ItkTestServer front;
    private VirtualHost evil;
    private VirtualHost good;

    @BeforeAll
    public static void startWorkerThreads() throws Exception
    {
        Assumptions.assumeTrue(ItkTestServer.isRoot(), "ItkHandler.start() chowns each vhost's work directory to its uid: needs root");
        // Shared by the in-JVM workers, as each real worker has its own JVM: unmanaged by their servers.
        workerThreads = new QueuedThreadPool(400);
        workerThreads.setName("itk-test-worker");
        workerThreads.start();
        workerScheduler = new ScheduledExecutorScheduler("itk-test-worker-scheduler", true);
        workerScheduler.start();
        warmUp();
    }

    /**
     * Loads the classes of a front and an in-JVM worker once, so that the short spawn timeout of one test is not
     * spent on class loading.
     */
    private static void warmUp() throws Exception
    {
        FakeWorkerLauncher launcher = new FakeWorkerLauncher();
        launcher.serve(GOOD, () -> newWorker(GOOD, UnaryOperator.identity()));
        try (ItkTestServer front = new ItkTestServer())
        {
            front.itk.setWorkerLauncher(launcher);
            front.add(newVirtualHost(front, GOOD, GOOD_ID));
            front.start();
            front.request(front.http1, GOOD + ".test", "/hello").timeout(30, SECONDS).send();
            front.request(front.http2, GOOD + ".test", "/hello").timeout(30, SECONDS).send();
        }
        finally
        {
            launcher.killAll();
        }
    }

    @AfterAll
    public static void stopWorkerThreads()
    {
        if (workerThreads == null)
            return;
        LifeCycle.stop(workerScheduler);
        LifeCycle.stop(workerThreads);
    }

    @BeforeEach
    public void init()
    {
        pipeThreads = PipeThreads.snapshot();
        previousHandler = Thread.getDefaultUncaughtExceptionHandler();
        Thread.setDefaultUncaughtExceptionHandler((thread, failure) -> uncaught.add(new AssertionError("uncaught in " + thread.getName(), failure)));
        launcher = new FakeWorkerLauncher();
        launcher.serve(EVIL, () -> newWorker(EVIL, UnaryOperator.identity()));
        launcher.serve(GOOD, () -> newWorker(GOOD, UnaryOperator.identity()));
    }

    @AfterEach
    public void dispose() throws Exception
    {
        try
        {
            // A hostile worker the front did not kill (a failed test) would make the graceful stop wait for it.
            launcher.launched().stream()
                .filter(process -> process.getPeer() instanceof ScriptedWorker && process.isAlive())
                .forEach(FakeWorkerProcess::destroyForcibly);
            if (front != null)
                front.close();
            // Stopping the front stops its workers; whatever did not stop dies with the test run.
            launcher.killAll();
            await().atMost(10, SECONDS).until(() -> launcher.launched().stream().noneMatch(FakeWorkerProcess::isAlive));
            await().atMost(10, SECONDS).untilAsserted(() -> assertEquals(List.of(), pipeThreads.started(), "itk-pipe threads left"));
            assertEquals(List.of(), uncaught, "uncaught exceptions");
        }
        finally
        {
            Thread.setDefaultUncaughtExceptionHandler(previousHandler);
        }
    }

    private void start(long spawnTimeoutMillis) throws Exception
    {
        newFront(spawnTimeoutMillis);
        startFront();
    }

    private void newFront(long spawnTimeoutMillis) throws Exception
    {
        front = new ItkTestServer();
        front.itk.setWorkerLauncher(launcher);
        front.itk.setSpawnTimeoutMillis(spawnTimeoutMillis);
        evil = front.add(newVirtualHost(front, EVIL, EVIL_ID));
        good = front.add(newVirtualHost(front, GOOD, GOOD_ID));
    }

    private void startFront() throws Exception
    {
        front.start();
        assertGood(send(front.http2, GOOD, GOOD_TIMEOUT_MILLIS));
    }

    @ParameterizedTest
    @ValueSource(strings = {"before SETTINGS", "instead of the response"})
    public void failsWhenWorkerSendsHttp1Garbage(String when) throws Exception
    {
        byte[] garbage = "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\ncorrupted".getBytes(StandardCharsets.US_ASCII);
        boolean beforeReady = when.startsWith("before");
        assertContained("HTTP/1.1 garbage " + when, worker ->
        {
            if (!beforeReady)
            {
                worker.write(settings());
                worker.awaitRequest();
            }
            worker.write(garbage);
            worker.awaitExit();
        }, beforeReady);
    }

    @Test
    public void failsWhenWorkerSendsRandomBytes() throws Exception
    {
        byte[] garbage = new byte[4096];
        new Random(42).nextBytes(garbage);
        assertContained("random bytes after SETTINGS", worker ->
        {
            worker.write(settings());
            worker.awaitRequest();
            worker.write(garbage);
            worker.awaitExit();
        }, false);
    }

    @ParameterizedTest
    @ValueSource(strings = {"DATA 16385", "HEADERS 20000", "DATA 16777215 header only"})
    public void failsWhenWorkerSendsOversizedFrame(String which) throws Exception
    {
        // The front's SETTINGS_MAX_FRAME_SIZE is Wire.FRONT_MAX_FRAME_SIZE (65536).
        assertContained("oversized frame " + which, worker ->
        {
            worker.write(settings());
            int stream = worker.awaitRequest();
            switch (which)
            {
                case "DATA 16385" ->
                {
                    worker.write(headers(stream, status("200"), false));
                    worker.write(frame(Http2Frames.DATA, 0, stream, new byte[Wire.FRONT_MAX_FRAME_SIZE + 1]));
                }
                case "HEADERS 20000" ->
                {
                    byte[] block = concat(status("200"), literal("x-big", "x".repeat(100)));
                    byte[] padded = new byte[20000];
                    System.arraycopy(block, 0, padded, 0, block.length);
                    worker.write(frame(Http2Frames.HEADERS, Http2Frames.FLAG_END_HEADERS, stream, padded));
                }
                default ->
                {
                    worker.write(headers(stream, status("200"), false));
                    worker.write(frame(0xFFFFFF, Http2Frames.DATA, 0, stream, new byte[0]));
                }
            }
            worker.write(data(stream, bytes("corrupted"), true));
            worker.awaitExit();
        }, false);
    }

    @ParameterizedTest
    @ValueSource(strings = {"oversized DATA", "cut DATA then EOF", "RST_STREAM"})
    public void failsWhenWorkerBreaksAfterResponseHeaders(String how) throws Exception
    {
        // The response head is valid and complete, with a Content-Length: the failure comes before any content,
        // so the client must get a clean 502, not the worker's head on the front's error page.
        assertContained(how + " after a valid response head with Content-Length", worker ->
        {
            worker.write(settings());
            int stream = worker.awaitRequest();
            worker.write(headers(stream, concat(status("200"), literal("content-type", "text/plain"), literal("content-length", "9")), false));
            switch (how)
            {
                case "oversized DATA" -> worker.write(frame(Http2Frames.DATA, 0, stream, new byte[Wire.FRONT_MAX_FRAME_SIZE + 1]));
                case "cut DATA then EOF" ->
                {
                    worker.write(Arrays.copyOf(data(stream, bytes("corrupted"), true), Http2Frames.HEADER_LENGTH + 4));
                    worker.closeOutput();
                }
                default -> worker.write(frame(Http2Frames.RST_STREAM, 0, stream, new byte[]{0, 0, 0, 2}));  // error code INTERNAL_ERROR
            }
            worker.awaitExit();
        }, false, how.equals("RST_STREAM"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"a\rb", "a\nb", "a\u0000b", "ok\r\nSet-Cookie: evil=1"})
    public void failsWhenResponseHeaderValueHasControlCharacter(String value) throws Exception
    {
        // Hand-written HPACK, so no encoder on the way refuses the value.
        assertContained("header value " + escape(value), respondWith(concat(status("200"), literal("x-evil", value))), false);
    }

    @ParameterizedTest
    @ValueSource(strings = {"x evil", "x\u0000evil", "X-Upper", ""})
    public void failsWhenResponseHeaderNameIsInvalid(String name) throws Exception
    {
        assertContained("header name " + escape(name), respondWith(concat(status("200"), literal(name, "value"))), false);
    }

    @ParameterizedTest
    @ValueSource(strings = {"99", "600", "101", "2000", "abc", ""})
    public void failsWhenStatusIsInvalid(String value) throws Exception
    {
        assertContained("status '" + value + "'", respondWith(status(value)), false);
    }

    @ParameterizedTest
    @ValueSource(strings = {"HEADERS on stream 3", "DATA on stream 3", "HEADERS on stream 2", "DATA on stream 0", "PUSH_PROMISE"})
    public void failsWhenWorkerSendsFrameForStreamNeverOpened(String which) throws Exception
    {
        assertContained(which + " while only stream 1 is open", worker ->
        {
            worker.write(settings());
            int stream = worker.awaitRequest();
            worker.write(switch (which)
            {
                case "HEADERS on stream 3" -> headers(stream + 2, status("200"), true);
                case "DATA on stream 3" -> data(stream + 2, bytes("x"), true);
                case "HEADERS on stream 2" -> headers(2, status("200"), true);
                case "DATA on stream 0" -> data(0, bytes("x"), false);
                default -> Http2Frames.pushPromise(stream, 2, Http2Frames.getRequestBlock());
            });
            // Had the front ignored the frame, this would make a 200.
            worker.write(headers(stream, status("200"), false));
            worker.write(data(stream, bytes("corrupted"), true));
            worker.awaitExit();
        }, false);
    }

    @ParameterizedTest
    @ValueSource(strings = {"in a frame header", "in a HEADERS payload", "in a DATA payload"})
    public void failsWhenFrameIsCutThenEndOfFile(String where) throws Exception
    {
        assertContained("frame cut " + where + ", then EOF with the process alive", worker ->
        {
            worker.write(settings());
            int stream = worker.awaitRequest();
            byte[] head = headers(stream, concat(status("200"), literal("content-type", "text/plain")), false);
            byte[] body = data(stream, new byte[100], true);
            switch (where)
            {
                case "in a frame header" -> worker.write(Arrays.copyOf(head, 5));
                case "in a HEADERS payload" -> worker.write(Arrays.copyOf(head, head.length - 3));
                default ->
                {
                    worker.write(head);
                    worker.write(Arrays.copyOf(body, Http2Frames.HEADER_LENGTH + 40));
                }
            }
            worker.closeOutput();
            worker.awaitExit();
        }, false);
    }

    @ParameterizedTest
    @ValueSource(strings = {"empty DATA", "PING"})
    public void failsWhenWorkerFloodsSmallFrames(String which) throws Exception
    {
        assertContained(FLOOD_FRAMES + " " + which + " frames", worker ->
        {
            worker.write(settings());
            int stream = worker.awaitRequest();
            if (which.equals("empty DATA"))
                worker.write(headers(stream, status("200"), false));
            byte[] one = which.equals("PING") ? Http2Frames.ping(0x1234) : data(stream, new byte[0], false);
            ByteArrayOutputStream chunk = new ByteArrayOutputStream();
            for (int i = 0; i < FLOOD_FRAMES; i++)
            {
                chunk.writeBytes(one);
                if (chunk.size() >= 64 * 1024)
                {
                    worker.write(chunk.toByteArray());
                    chunk.reset();
                }
            }
            worker.write(chunk.toByteArray());
            if (which.equals("PING"))
                worker.write(headers(stream, status("200"), false));
            worker.write(data(stream, bytes("flood survived"), true));
            worker.awaitExit();
        }, false);
    }

    @ParameterizedTest
    @ValueSource(strings = {"SETTINGS", "PING", "PRIORITY", "WINDOW_UPDATE on stream 0", "WINDOW_UPDATE on closed stream", "DATA on closed stream", "RST_STREAM on closed stream"})
    public void failsWhenWorkerThatDoesNotReadFloods(String which) throws Exception
    {
        // Tenant code suspends the worker's pipe reader and writes to the protocol pipe: 5000 frames a second, under
        // the idle-frame cap the front had, each obliging it to answer (SETTINGS, PING) or costing it work for
        // nothing. The front must kill the worker on its frame budget, holding a bounded queue meanwhile.
        Attack attack = floodAfterOneResponse(which, 500, 100, stream -> switch (which)
        {
            case "SETTINGS" -> settings();
            case "PING" -> Http2Frames.ping(0x5EED);
            case "PRIORITY" -> frame(Http2Frames.PRIORITY, 0, stream, new byte[]{0, 0, 0, 0, 15});  // dependency 0, weight 16
            case "WINDOW_UPDATE on stream 0" -> Http2Frames.windowUpdate(0, 1);
            case "WINDOW_UPDATE on closed stream" -> Http2Frames.windowUpdate(stream, 1);
            case "DATA on closed stream" -> data(stream, bytes("x"), false);
            default -> Http2Frames.rstStream(stream, 8);  // CANCEL
        });
        attack.answerFirst();
        String expected = which.equals("WINDOW_UPDATE on stream 0") ? "WINDOW_UPDATE on stream 0 with nothing sent" : which;
        attack.assertKilled("flood: more than " + WorkerFrameGuard.DEFAULT_MAX_WASTED_FRAMES_PER_SECOND + " wasted frames in one second", expected);
        attack.assertBounded(WorkerFrameGuard.DEFAULT_MAX_QUEUED_FRAMES);
        attack.assertRecovered();
    }

    @Test
    public void failsWhenWorkerThatDoesNotReadSendsSettingsUnderTheRateBudget() throws Exception
    {
        // No rate budget at all: only the bound on what the front queues toward a worker stops a flood that a rate
        // budget lets through (a slow one, or one under the budget for long).
        int maxQueued = 500;
        Attack attack = new Attack(itk ->
        {
            itk.setMaxWastedFramesPerSecond(Integer.MAX_VALUE);
            itk.setMaxQueuedFrames(maxQueued);
        });
        attack.run(floodScript(attack, 100, 5, stream -> settings()));
        attack.answerFirst();
        attack.assertKilled("not reading: ", "frames queued toward the worker > max " + maxQueued);
        attack.assertBounded(maxQueued);
        attack.assertRecovered();
    }

    @Test
    public void failsWhenWorkerStopsReadingItsRequests() throws Exception
    {
        // The worker opens its windows, then reads nothing: a request body fills its stdin and the front's queue
        // toward it. Nothing the frame guard sees: the front must notice the pipe that takes nothing.
        long stallMillis = 1000;
        Attack attack = new Attack(itk -> itk.setWriteStallTimeoutMillis(stallMillis));
        attack.run(worker ->
        {
            worker.write(settings(Http2Frames.SETTINGS_INITIAL_WINDOW_SIZE, 16 << 20));
            worker.write(Http2Frames.windowUpdate(0, 16 << 20));
            worker.awaitRequest();
            worker.stopReading();
            worker.awaitExit();
        });
        Outcome outcome = attack.post(4 << 20);
        assertFalse(outcome.hung(), "request hung: " + outcome);
        assertTrue(outcome.failure() != null || outcome.status() == 502, "expected 502 or an abort: " + outcome);
        attack.assertKilled("not reading: stdin took nothing for ", "> " + stallMillis + "ms");
        attack.assertBounded(WorkerFrameGuard.DEFAULT_MAX_QUEUED_FRAMES);
        attack.assertRecovered();
    }

    @Test
    public void failsWhenStoppedWorkerDoesNotRead() throws Exception
    {
        // The worker stops reading with a request body in its pipe: the front's GOAWAY can never be written. The
        // stop must still kill it after its exit timeout, freeing its slot.
        Attack attack = new Attack(itk -> {});
        attack.run(worker ->
        {
            worker.write(settings(Http2Frames.SETTINGS_INITIAL_WINDOW_SIZE, 16 << 20));
            worker.write(Http2Frames.windowUpdate(0, 16 << 20));
            worker.awaitRequest();
            worker.stopReading();
            worker.awaitExit();
        });
        CompletableFuture<Outcome> outcome = sendAsync(attack.post(4 << 20, EVIL_TIMEOUT_MILLIS), EVIL_TIMEOUT_MILLIS);
        Worker worker = attack.awaitWorker();
        await("request body queued toward the worker").atMost(5, SECONDS).until(() -> worker.getQueuedBytes() >= Wire.PIPE_WRITE_BEHIND_LIMIT);
        CompletableFuture<Process> stopped = worker.stop(Duration.ofMillis(100), Duration.ofMillis(500));
        stopped.get(5, SECONDS);
        assertFalse(outcome.get(EVIL_TIMEOUT_MILLIS + 5000, MILLISECONDS).hung(), "request hung");
        attack.assertKilled("did not exit within 500ms of its stop", "");
        await("the killed worker kept its slot").atMost(5, SECONDS).until(() -> front.itk.getWorkerPool(evil).getWorkerCount() == 0);
        attack.assertRecovered();
    }

    /**
     * A script: answer the first request with 200 "first", wait for the test's signal, stop reading, then write
     * {@code frames} frames every {@code pauseMillis} until killed.
     */
    private Attack floodAfterOneResponse(String which, int frames, long pauseMillis, IntFunction<byte[]> frame) throws Exception
    {
        Attack attack = new Attack(itk -> {});
        attack.run(floodScript(attack, frames, pauseMillis, frame));
        LOG.info("flooding with {}", which);
        return attack;
    }

    private ScriptedWorker.Script floodScript(Attack attack, int frames, long pauseMillis, IntFunction<byte[]> frame)
    {
        return worker ->
        {
            worker.write(settings());
            int stream = worker.awaitRequest();
            worker.write(headers(stream, concat(status("200"), literal("content-type", "text/plain")), false));
            worker.write(data(stream, bytes("first"), true));
            attack.firstAnswered.await(EVIL_TIMEOUT_MILLIS, MILLISECONDS);
            // One burst per read of the front, whatever the threads' timing.
            worker.segmentWrites();
            worker.stopReading();
            byte[] one = frame.apply(stream);
            ByteArrayOutputStream burst = new ByteArrayOutputStream();
            for (int i = 0; i < frames; i++)
            {
                burst.writeBytes(one);
            }
            byte[] bytes = burst.toByteArray();
            // Ends with an IOException once the front killed this worker.
            while (true)
            {
                worker.write(bytes);
                Thread.sleep(pauseMillis);
            }
        };
    }

    /**
     * One hostile worker for {@code evil}, with good traffic all along and the front's queue toward the hostile
     * worker sampled every millisecond.
     */
    private final class Attack
    {
        private final CountDownLatch firstAnswered = new CountDownLatch(1);
        private final Consumer<ItkHandler> configure;
        private ScriptedWorker peer;
        private GoodTraffic traffic;
        private Thread sampler;
        private final AtomicInteger maxQueuedFrames = new AtomicInteger();
        private final AtomicInteger maxQueuedBytes = new AtomicInteger();
        private volatile boolean sampling = true;
        private volatile Worker hostileWorker;

        private Attack(Consumer<ItkHandler> configure)
        {
            this.configure = configure;
        }

        private void run(ScriptedWorker.Script script) throws Exception
        {
            peer = new ScriptedWorker("flood", script);
            launcher.once(EVIL, () -> peer);
            newFront(SPAWN_TIMEOUT_MILLIS);
            configure.accept(front.itk);
            startFront();
            traffic = new GoodTraffic();
            sampler = new Thread(this::sample, "itk-test-queue-sampler");
            sampler.start();
        }

        private void sample()
        {
            while (sampling)
            {
                List<FakeWorkerProcess> launched = launcher.launched(EVIL);
                for (Worker worker : front.itk.getWorkerPool(evil).getWorkers())
                {
                    if (launched.isEmpty() || worker.getPid() != launched.get(0).pid())
                        continue;
                    hostileWorker = worker;
                    maxQueuedFrames.accumulateAndGet(worker.getQueuedFrames(), Math::max);
                    maxQueuedBytes.accumulateAndGet(worker.getQueuedBytes(), Math::max);
                }
                try
                {
                    Thread.sleep(1);
                }
                catch (InterruptedException x)
                {
                    return;
                }
            }
        }

        private Worker awaitWorker()
        {
            await("the hostile worker").atMost(EVIL_TIMEOUT_MILLIS, MILLISECONDS).until(() -> hostileWorker != null);
            return hostileWorker;
        }

        private org.eclipse.jetty.client.Request post(int length, long timeoutMillis)
        {
            return front.request(front.http1, EVIL + ".test", "/upload")
                .method("POST")
                .body(new BytesRequestContent(new byte[length]))
                .timeout(timeoutMillis, MILLISECONDS);
        }

        private Outcome post(int length) throws Exception
        {
            return sendAsync(post(length, EVIL_TIMEOUT_MILLIS), EVIL_TIMEOUT_MILLIS).get(EVIL_TIMEOUT_MILLIS + 5000, MILLISECONDS);
        }

        /**
         * Sends the first request, which the flood script answers before it starts.
         */
        private void answerFirst() throws Exception
        {
            Outcome first = send(front.http1, EVIL, EVIL_TIMEOUT_MILLIS);
            assertEquals(200, first.status(), "first response: " + first);
            firstAnswered.countDown();
        }

        /**
         * The hostile worker must be killed with a reason that has both texts.
         */
        private void assertKilled(String rule, String detail) throws Exception
        {
            FakeWorkerProcess hostile = launcher.launched(EVIL).get(0);
            await("the hostile worker was not killed").atMost(10, SECONDS).until(() -> hostile.getForcedKills() > 0);
            Worker worker = awaitWorker();
            String reason = worker.getKillReason();
            LOG.info("killed: {}, queued at most {} frames and {} bytes", reason, maxQueuedFrames.get(), maxQueuedBytes.get());
            assertNotNull(reason, "no kill reason");
            assertTrue(reason.contains(rule) && reason.contains(detail), "kill reason '" + reason + "' lacks '" + rule + "' and '" + detail + "'");
            Throwable scriptFailure = peer.getScriptFailure();
            if (scriptFailure != null && !(scriptFailure instanceof IOException))
                throw new AssertionError("the script did not run as intended", scriptFailure);
        }

        /**
         * The front never held more than {@code maxFrames} frames (and a few of its own) and its
         * write-behind limit plus one flush toward the worker.
         */
        private void assertBounded(int maxFrames) throws Exception
        {
            stopSampling();
            assertTrue(maxQueuedFrames.get() <= maxFrames + QUEUED_FRAMES_SLACK, "frames queued toward the worker: " + maxQueuedFrames.get() + " > " + maxFrames);
            assertTrue(maxQueuedBytes.get() <= Wire.PIPE_WRITE_BEHIND_LIMIT + Wire.PIPE_READ_CHUNK_SIZE, "bytes queued toward the worker: " + maxQueuedBytes.get());
        }

        private void assertRecovered() throws Exception
        {
            stopSampling();
            traffic.assertSucceeded("flood");
            FakeWorkerProcess hostile = launcher.launched(EVIL).get(0);
            HostileWorkerTest.this.assertRecovered("flood", hostile);
        }

        private void stopSampling() throws InterruptedException
        {
            sampling = false;
            sampler.join();
        }
    }

    @Test
    public void failsWhenWorkerNeverSendsSettings() throws Exception
    {
        launcher.once(EVIL, () -> new ScriptedWorker("silent", ScriptedWorker::awaitExit));
        start(NEVER_READY_SPAWN_TIMEOUT_MILLIS);
        FakeWorkerProcess hostile;
        Outcome outcome;
        try (GoodTraffic traffic = new GoodTraffic())
        {
            outcome = send(front.http1, EVIL, EVIL_TIMEOUT_MILLIS);
            hostile = launcher.launched(EVIL).get(0);
            traffic.assertSucceeded("never ready");
        }

        assertFalse(outcome.hung(), "never ready: request hung: " + outcome);
        assertEquals(503, outcome.status(), "never ready: " + outcome);
        assertEquals(Integer.toString(ItkHandler.RETRY_AFTER_SECONDS), outcome.headers().get(HttpHeader.RETRY_AFTER), "never ready: Retry-After");
        assertTrue(outcome.millis() < NEVER_READY_SPAWN_TIMEOUT_MILLIS + 3000, "never ready: answered after " + outcome.millis() + "ms");
        assertRecovered("never ready", hostile);
    }

    @Test
    public void testMutatedWorkerOutputStaysInItsStreams() throws Exception
    {
        long seed = Long.getLong("itk.seed", new Random().nextLong());
        MutatingOutputStream.Mutator mutator = new MutatingOutputStream.Mutator();
        newFront(SPAWN_TIMEOUT_MILLIS);
        front.itk.setMinCrashBackoffMillis(MUTATION_MAX_CRASH_BACKOFF_MILLIS / 4);
        front.itk.setMaxCrashBackoffMillis(MUTATION_MAX_CRASH_BACKOFF_MILLIS);
        List<VirtualHost> mutants = new ArrayList<>();
        for (int i = 0; i < MUTANTS; i++)
        {
            String name = "mutant" + i;
            launcher.serve(name, () -> newWorker(name, out -> new MutatingOutputStream(out, mutator)));
            VirtualHost mutant = newVirtualHost(front, name, MUTANT_FIRST_ID + i);
            mutant.setRequestTimeoutMillis(MUTATION_REQUEST_TIMEOUT_MILLIS);
            mutants.add(front.add(mutant));
        }
        startFront();

        List<String> problems = new ArrayList<>();
        Map<String, Integer> outcomes = new TreeMap<>();
        long deadline = System.nanoTime() + MILLISECONDS.toNanos(MUTATION_BUDGET_MILLIS);
        int iterations = 0;
        int exercised = 0;
        int hangs = 0;
        while (exercised < MUTATION_ITERATIONS && hangs < MUTATION_MAX_HANGS && System.nanoTime() < deadline)
        {
            int iteration = iterations++;
            VirtualHost mutant = mutants.get(iteration % mutants.size());
            WorkerPool pool = front.itk.getWorkerPool(mutant);
            long refusedBefore = pool.getRejected();
            MutatingOutputStream.Plan plan = MutatingOutputStream.Plan.random(new Random(seed + iteration), MUTATION_SPAN);
            mutator.arm(plan);
            // Both at once: the good request is in flight while the mutated worker misbehaves.
            CompletableFuture<Outcome> evilOutcome = sendAsync(front.http1, mutant.getName(), MUTATION_EVIL_TIMEOUT_MILLIS);
            CompletableFuture<Outcome> goodOutcome = sendAsync(front.http2, GOOD, GOOD_TIMEOUT_MILLIS);
            Outcome evilResult = evilOutcome.get(MUTATION_EVIL_TIMEOUT_MILLIS + 5000, MILLISECONDS);
            Outcome goodResult = goodOutcome.get(GOOD_TIMEOUT_MILLIS + 5000, MILLISECONDS);
            String where = "seed=" + seed + " iteration=" + iteration + " vhost=" + mutant.getName() + " mutations=" + plan;
            if (!goodResult.isHello(GOOD))
                problems.add(where + ": good request failed: " + goodResult);
            if (pool.getRejected() > refusedBefore)
            {
                // The vhost's crash backoff answered (503 with Retry-After): no worker saw this plan.
                outcomes.merge("503 refused", 1, Integer::sum);
                if (evilResult.status() != 503 || evilResult.headers().get(HttpHeader.RETRY_AFTER) == null)
                    problems.add(where + ": refused without 503 and Retry-After: " + evilResult);
                Thread.sleep(10);
                continue;
            }
            exercised++;
            outcomes.merge(evilResult.summary(mutant.getName()), 1, Integer::sum);
            if (evilResult.hung())
            {
                hangs++;
                problems.add(where + ": request did not end within " + MUTATION_EVIL_TIMEOUT_MILLIS + "ms: " + evilResult);
            }
        }
        mutator.disarm();
        long workers = mutants.stream().mapToLong(mutant -> launcher.launched(mutant.getName()).size()).sum();
        LOG.info("mutation loop seed={} iterations={} exercised={} mutated workers={} outcomes={}", seed, iterations, exercised, workers, outcomes);

        // After the storm: a mutated vhost recovers once its backoff is over, good was never restarted, and no
        // exchange is left in flight.
        String first = mutants.get(0).getName();
        await().atMost(15, SECONDS).pollInterval(200, MILLISECONDS).until(() -> send(front.http1, first, EVIL_TIMEOUT_MILLIS).isHello(first));
        assertGood(send(front.http2, GOOD, GOOD_TIMEOUT_MILLIS));
        assertEquals(1, launcher.launched(GOOD).size(), "seed=" + seed + ": good worker restarted");
        await().atMost(5, SECONDS).untilAsserted(() -> assertEquals(0, inFlight(), "seed=" + seed + ": exchanges left in flight"));
        assertEquals(List.of(), problems, "seed=" + seed + " outcomes=" + outcomes);
        assertTrue(exercised >= MUTATION_MIN_ITERATIONS, "seed=" + seed + ": only " + exercised + " mutated requests in " + MUTATION_BUDGET_MILLIS + "ms, outcomes=" + outcomes);
    }

    /**
     * Runs one attack: the first {@code evil} worker plays the script; good traffic runs all along.
     */
    private void assertContained(String attack, ScriptedWorker.Script script, boolean beforeReady) throws Exception
    {
        assertContained(attack, script, beforeReady, false);
    }

    /**
     * @param legal whether the worker's behaviour is legal HTTP/2 (a reset stream): then the request fails with
     * 502, but the worker is not killed
     */
    private void assertContained(String attack, ScriptedWorker.Script script, boolean beforeReady, boolean legal) throws Exception
    {
        ScriptedWorker hostilePeer = new ScriptedWorker(attack, script);
        launcher.once(EVIL, () -> hostilePeer);
        start(SPAWN_TIMEOUT_MILLIS);

        Outcome outcome;
        try (GoodTraffic traffic = new GoodTraffic())
        {
            outcome = send(front.http1, EVIL, EVIL_TIMEOUT_MILLIS);
            traffic.assertSucceeded(attack);
        }
        FakeWorkerProcess hostile = launcher.launched(EVIL).get(0);
        assertTrue(hostile.getPeer() == hostilePeer, attack + ": first evil worker is not the hostile one");

        assertFalse(outcome.hung(), attack + ": request hung: " + outcome);
        if (outcome.failure() == null)
        {
            Set<Integer> allowed = beforeReady ? Set.of(502, 503) : Set.of(502);
            assertTrue(allowed.contains(outcome.status()), attack + ": expected " + allowed + " or an aborted response, got " + outcome);
            if (outcome.status() == 503)
                assertNotNull(outcome.headers().get(HttpHeader.RETRY_AFTER), attack + ": 503 without Retry-After");
        }
        Throwable scriptFailure = hostilePeer.getScriptFailure();
        if (scriptFailure != null && !(scriptFailure instanceof IOException))
            throw new AssertionError(attack + ": the script did not run as intended", scriptFailure);
        if (legal)
        {
            assertEquals(0, hostile.getForcedKills(), attack + ": a worker resetting a stream was killed");
            await().atMost(5, SECONDS).untilAsserted(() -> assertEquals(0, inFlight(), attack + ": exchanges left in flight"));
            return;
        }
        assertRecovered(attack, hostile);
    }

    /**
     * The hostile worker was killed and left the pool; the next request to {@code evil} gets a fresh worker,
     * {@code good}'s worker was never restarted, and no exchange is left in flight.
     */
    private void assertRecovered(String attack, FakeWorkerProcess hostile) throws Exception
    {
        await(attack + ": the hostile worker was not killed").atMost(KILL_WAIT_MILLIS, MILLISECONDS).until(() -> hostile.getForcedKills() > 0 || !hostile.isAlive());
        assertTrue(hostile.getForcedKills() > 0, attack + ": the hostile worker exited but was not killed: " + hostile);
        await(attack + ": the killed worker is still in the pool").atMost(5, SECONDS).until(() -> front.itk.getWorkerPool(evil).getWorkers().stream().noneMatch(w -> w.getPid() == hostile.pid()));

        Outcome later = send(front.http1, EVIL, EVIL_TIMEOUT_MILLIS);
        assertTrue(later.isHello(EVIL), attack + ": a later request did not get a fresh worker: " + later);
        assertEquals(2, launcher.launched(EVIL).size(), attack + ": evil launches");
        assertEquals(1, launcher.launched(GOOD).size(), attack + ": good worker restarted");
        await().atMost(5, SECONDS).untilAsserted(() -> assertEquals(0, inFlight(), attack + ": exchanges left in flight"));
    }

    private int inFlight()
    {
        return front.itk.getVirtualHosts().stream()
            .flatMap(vhost -> front.itk.getWorkerPool(vhost).getWorkers().stream())
            .mapToInt(Worker::getInFlight)
            .sum();
    }

    /**
     * @return a script that answers the request with the header block, then a body that must never reach a client
     */
    private static ScriptedWorker.Script respondWith(byte[] headerBlock)
    {
        return worker ->
        {
            worker.write(settings());
            int stream = worker.awaitRequest();
            worker.write(headers(stream, headerBlock, false));
            worker.write(data(stream, bytes("corrupted"), true));
            worker.awaitExit();
        };
    }

    private static FakeWorkerProcess.Peer newWorker(String vhost, UnaryOperator<OutputStream> outputFilter)
    {
        return new InJvmWorker(workerThreads, workerScheduler, () -> new HelloHandler(vhost), outputFilter);
    }

    private static VirtualHost newVirtualHost(ItkTestServer front, String name, int id) throws IOException
    {
        VirtualHost vhost = new VirtualHost(name);
        vhost.setHostNames(name + ".test");
        // Numeric ids need no passwd entry; no process runs as them here.
        vhost.setUser(Integer.toString(id));
        vhost.setGroup(Integer.toString(id));
        vhost.setGroups();
        vhost.setApp(Files.createDirectories(front.root.resolve(name)).toString());
        return vhost;
    }

    private Outcome send(HttpClient client, String vhost, long timeoutMillis) throws Exception
    {
        return sendAsync(client, vhost, timeoutMillis).get(timeoutMillis + 5000, MILLISECONDS);
    }

    private CompletableFuture<Outcome> sendAsync(HttpClient client, String vhost, long timeoutMillis)
    {
        return sendAsync(front.request(client, vhost + ".test", "/hello").timeout(timeoutMillis, MILLISECONDS), timeoutMillis);
    }

    private static CompletableFuture<Outcome> sendAsync(org.eclipse.jetty.client.Request request, long timeoutMillis)
    {
        long start = System.nanoTime();
        return new CompletableResponseListener(request, 1024 * 1024).send().handle((response, failure) ->
        {
            long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            if (failure != null)
                return new Outcome(0, null, HttpFields.EMPTY, failure, millis);
            // Not getContentAsString(): a mutated Content-Type may name no charset at all.
            return new Outcome(response.getStatus(), new String(response.getContent(), StandardCharsets.UTF_8), response.getHeaders(), null, millis);
        });
    }

    private static void assertGood(Outcome outcome)
    {
        assertTrue(outcome.isHello(GOOD), "good: " + outcome);
    }

    private static byte[] bytes(String text)
    {
        return text.getBytes(StandardCharsets.UTF_8);
    }

    private static String escape(String text)
    {
        StringBuilder builder = new StringBuilder("'");
        for (char c : text.toCharArray())
        {
            builder.append(c >= 0x20 && c < 0x7F ? String.valueOf(c) : "\\x%02x".formatted((int)c));
        }
        return builder.append("'").toString();
    }

    static String hello(String vhost)
    {
        return "hello from " + vhost + ", a well-behaved worker\n";
    }

    /**
     * How a request ended: a response, or a failure (aborted, or timed out: a hang).
     */
    private record Outcome(int status, String content, HttpFields headers, Throwable failure, long millis)
    {
        private boolean hung()
        {
            for (Throwable cause = failure; cause != null; cause = cause.getCause())
            {
                if (cause instanceof TimeoutException)
                    return true;
            }
            return false;
        }

        private boolean isHello(String vhost)
        {
            return failure == null && status == 200 && hello(vhost).equals(content);
        }

        private String summary(String vhost)
        {
            if (hung())
                return "hang";
            if (failure != null)
                return "aborted " + failure.getClass().getSimpleName();
            if (status == 200)
                return isHello(vhost) ? "200 intact" : "200 altered";
            return Integer.toString(status);
        }

        @Override
        public String toString()
        {
            if (failure != null)
                return "failure after " + millis + "ms: " + failure;
            String body = content == null ? "" : content.length() > 80 ? content.substring(0, 80) + "..." : content;
            return status + " after " + millis + "ms " + escapeBody(body);
        }

        private static String escapeBody(String body)
        {
            return "'" + body.replace("\n", "\\n").replace("\r", "\\r") + "'";
        }
    }

    /**
     * Requests to {@code good}, one after another on the HTTP/2 client, until closed.
     */
    private final class GoodTraffic implements AutoCloseable
    {
        private final AtomicBoolean running = new AtomicBoolean(true);
        private final AtomicInteger successes = new AtomicInteger();
        private final List<String> failures = new CopyOnWriteArrayList<>();
        private final Thread thread;

        private GoodTraffic()
        {
            thread = new Thread(this::run, "itk-test-good-traffic");
            thread.start();
        }

        private void run()
        {
            while (running.get())
            {
                try
                {
                    Outcome outcome = send(front.http2, GOOD, GOOD_TIMEOUT_MILLIS);
                    if (outcome.isHello(GOOD))
                        successes.incrementAndGet();
                    else
                        failures.add(outcome.toString());
                    Thread.sleep(5);
                }
                catch (InterruptedException x)
                {
                    return;
                }
                catch (Exception x)
                {
                    failures.add(x.toString());
                }
            }
        }

        /**
         * Stops the traffic and checks it: every request succeeded, and there was at least one.
         */
        private void assertSucceeded(String attack) throws InterruptedException
        {
            close();
            assertEquals(List.of(), failures, attack + ": requests to good failed");
            assertTrue(successes.get() > 0, attack + ": no request to good completed during the attack");
        }

        @Override
        public void close() throws InterruptedException
        {
            running.set(false);
            thread.join(GOOD_TIMEOUT_MILLIS + 10_000);
            assertFalse(thread.isAlive(), "good traffic did not stop");
        }
    }

    /**
     * {@code GET /hello} answers {@link #hello(String)}.
     */
    private static final class HelloHandler extends Handler.Abstract
    {
        private final String vhost;

        private HelloHandler(String vhost)
        {
            this.vhost = vhost;
        }

        @Override
        public boolean handle(Request request, Response response, Callback callback)
        {
            if (!"/hello".equals(Request.getPathInContext(request)))
                return false;
            response.setStatus(200);
            response.getHeaders().put(HttpHeader.CONTENT_TYPE, "text/plain;charset=utf-8");
            Content.Sink.write(response, true, hello(vhost), callback);
            return true;
        }
    }
}
