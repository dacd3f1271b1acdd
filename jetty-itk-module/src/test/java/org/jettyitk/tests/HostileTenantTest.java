package org.jettyitk.tests;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

import org.eclipse.jetty.client.CompletableResponseListener;
import org.eclipse.jetty.client.ContentResponse;
import org.jettyitk.VirtualHost;
import org.jettyitk.internal.front.Worker;
import org.jettyitk.internal.front.VhostSettings;
import org.jettyitk.internal.front.WorkerPool;
import org.jettyitk.internal.wire.Wire;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static org.awaitility.Awaitility.await;
import static org.jettyitk.tests.ItkTestServer.ALICE;
import static org.jettyitk.tests.ItkTestServer.BOB;
import static org.jettyitk.tests.ItkTestServer.CAROL;
import static org.jettyitk.tests.ItkTestServer.TIMEOUT_SECONDS;
import static org.jettyitk.tests.ItkTestServer.lines;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * <p>A tenant that allocates, forks, spins or floods its protocol pipe without end hurts only itself: its own
 * worker dies or hits its limit, and another vhost's worker (same pid before and after) serves every request
 * meanwhile.</p>
 */
public class HostileTenantTest
{
    /** A uid of its own: RLIMIT_NPROC counts every process and thread of the uid. */
    private static final int FORKER = 41010;
    private static final long MAX_PROCESSES = 64;
    private static final int FORKS = 500;
    private static final long REQUEST_TIMEOUT_MILLIS = 1000;
    private static final int SPINNING_THREADS = 4;
    private static final int BYSTANDER_REQUESTS = 10;
    /** SETTINGS frames the flooding tenant writes at once (3600 bytes, one atomic pipe write), every 100 ms. */
    private static final int FLOOD_FRAMES = 400;
    private static final long FLOOD_PAUSE_MILLIS = 100;

    private ItkTestServer front;
    private VirtualHost bystander;

    @BeforeEach
    public void assumeRoot()
    {
        Assumptions.assumeTrue(ItkTestServer.isRoot(), "needs root: workers run as numeric uids 41001, 41002, 41003, 41010");
    }

    @AfterEach
    public void stop() throws Exception
    {
        try
        {
            if (front != null)
                front.close();
        }
        finally
        {
            // Whatever the forking tenant left behind runs as its uid.
            killProcessesOf(FORKER);
        }
    }

    /**
     * Starts a front with a quiet vhost (bob) and the hostile one; bob's worker is spawned first.
     */
    private VirtualHost start(String name, int uid, java.util.function.Consumer<VirtualHost> configure) throws Exception
    {
        front = new ItkTestServer();
        bystander = front.addTestApp("bystander", BOB);
        VirtualHost hostile = front.addTestApp(name, uid);
        configure.accept(hostile);
        front.start();
        return hostile;
    }

    private long pid(VirtualHost vhost) throws Exception
    {
        ContentResponse response = front.get(front.http1, vhost.getHostNames().get(0), "/pid");
        assertEquals(200, response.getStatus(), response::getContentAsString);
        return Long.parseLong(lines(response.getContentAsString()).get("pid"));
    }

    /**
     * Asserts that the bystander's worker, the same one as before, serves every request.
     */
    private void assertBystanderServed(long pid) throws Exception
    {
        for (int i = 0; i < BYSTANDER_REQUESTS; i++)
        {
            assertEquals(pid, pid(bystander));
        }
    }

    private static boolean isAlive(long pid)
    {
        return ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
    }

    /**
     * @return the pids of the running processes whose real uid is the given one, read from {@code /proc}
     */
    private static List<Long> processesOf(int uid) throws IOException
    {
        try (Stream<Path> entries = Files.list(Path.of("/proc")))
        {
            return entries.filter(p -> p.getFileName().toString().chars().allMatch(Character::isDigit))
                .filter(p -> uidOf(p) == uid)
                .map(p -> Long.parseLong(p.getFileName().toString()))
                .toList();
        }
    }

    /**
     * @return the real uid of a running process, or -1 for one that exited (a zombie included)
     */
    private static int uidOf(Path process)
    {
        try
        {
            List<String> status = Files.readAllLines(process.resolve("status"));
            if (status.stream().anyMatch(line -> line.startsWith("State:") && line.contains("Z")))
                return -1;
            for (String line : status)
            {
                // "Uid:\treal\teffective\tsaved\tfs"
                if (line.startsWith("Uid:"))
                    return Integer.parseInt(line.split("\\s+")[1]);
            }
        }
        catch (NoSuchFileException x)
        {
            // It exited meanwhile.
        }
        catch (IOException x)
        {
            throw new java.io.UncheckedIOException(x);
        }
        return -1;
    }

    private static void killProcessesOf(int uid) throws Exception
    {
        for (long pid : processesOf(uid))
        {
            ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
        }
        await().atMost(TIMEOUT_SECONDS, TimeUnit.SECONDS).until(() -> processesOf(uid).isEmpty());
    }

    @Test
    public void testAllocatingWithoutEndKillsOnlyItsOwnWorker() throws Exception
    {
        // The product's default worker options: -Xmx256m and -XX:+ExitOnOutOfMemoryError.
        VirtualHost hog = start("hog", ALICE, vhost -> {});
        long bystanderPid = pid(bystander);
        long hogPid = pid(hog);

        ContentResponse response = front.get(front.http1, "hog.test", "/allocate");

        assertEquals(502, response.getStatus(), response::getContentAsString);
        await().atMost(TIMEOUT_SECONDS, TimeUnit.SECONDS).until(() -> !isAlive(hogPid));
        assertBystanderServed(bystanderPid);
        // It hurt only itself: the next request gets a fresh worker.
        assertNotEquals(hogPid, pid(hog));
    }

    @Test
    public void testForkingWithoutEndStopsAtItsProcessLimit() throws Exception
    {
        VirtualHost forker = start("forker", FORKER, vhost -> vhost.setMaxProcesses(MAX_PROCESSES));
        long bystanderPid = pid(bystander);
        long forkerPid = pid(forker);

        ContentResponse response = front.get(front.http1, "forker.test", "/fork?n=" + FORKS);

        System.out.println("fork: " + response.getStatus() + " " + response.getContentAsString().strip().replace('\n', ' '));
        assertEquals(200, response.getStatus(), response::getContentAsString);
        Map<String, String> lines = lines(response.getContentAsString());
        int started = Integer.parseInt(lines.get("started"));
        assertTrue(started < MAX_PROCESSES, () -> "started " + started + " processes: " + lines);
        // At RLIMIT_NPROC, fork() fails with EAGAIN, or first the JVM's thread that would wait for the child.
        String failure = lines.get("failure");
        assertTrue(failure.contains("error=11") || failure.contains("unable to create native thread"), failure);
        assertBystanderServed(bystanderPid);
        assertEquals(forkerPid, pid(forker));
    }

    @Test
    public void testTenantFloodingItsProtocolPipeIsKilled() throws Exception
    {
        // Tenant code finds the worker's protocol pipe among its descriptors, suspends the worker's pipe reader and
        // writes 4000 SETTINGS a second through jnr-posix: each obliges the front to answer.
        VirtualHost flooder = start("flooder", CAROL, vhost -> {});
        long bystanderPid = pid(bystander);
        long flooderPid = pid(flooder);
        // Reopening the pipe through /proc/self/fd is refused (the front created it, as root, 0600); the
        // descriptor the worker holds is what the tenant writes to.
        ContentResponse protocol = front.get(front.http1, "flooder.test", "/protocol");
        assertEquals("denied", lines(protocol.getContentAsString()).get("reopen"), protocol::getContentAsString);
        // Nor does the worker open java.io to reflection for it (it writes its protocol through libc).
        assertEquals("denied", lines(protocol.getContentAsString()).get("reflect"), protocol::getContentAsString);
        Worker worker = front.itk.getWorkerPool(flooder).getWorkers().get(0);
        assertEquals(flooderPid, worker.getPid());
        AtomicInteger maxQueuedFrames = new AtomicInteger();
        AtomicInteger maxQueuedBytes = new AtomicInteger();
        AtomicBoolean sampling = new AtomicBoolean(true);
        Thread sampler = new Thread(() ->
        {
            while (sampling.get())
            {
                maxQueuedFrames.accumulateAndGet(worker.getQueuedFrames(), Math::max);
                maxQueuedBytes.accumulateAndGet(worker.getQueuedBytes(), Math::max);
                try
                {
                    Thread.sleep(1);
                }
                catch (InterruptedException x)
                {
                    return;
                }
            }
        }, "itk-test-queue-sampler");
        sampler.start();
        try
        {
            ContentResponse response = front.get(front.http1, "flooder.test", "/flood?n=" + FLOOD_FRAMES + "&ms=" + FLOOD_PAUSE_MILLIS);
            assertEquals(502, response.getStatus(), response::getContentAsString);
            await().atMost(TIMEOUT_SECONDS, TimeUnit.SECONDS).until(() -> !isAlive(flooderPid));
        }
        finally
        {
            sampling.set(false);
            sampler.join();
            System.out.printf("flood: killed: %s; queued at most %d frames and %d bytes%n", worker.getKillReason(), maxQueuedFrames.get(), maxQueuedBytes.get());
        }
        String reason = worker.getKillReason();
        assertTrue(reason != null && reason.contains("flood: more than " + VhostSettings.DEFAULT_MAX_WASTED_FRAMES_PER_SECOND), "kill reason: " + reason);
        assertTrue(maxQueuedFrames.get() <= VhostSettings.DEFAULT_MAX_QUEUED_FRAMES, "frames queued toward the worker: " + maxQueuedFrames.get());
        assertTrue(maxQueuedBytes.get() <= Wire.PIPE_WRITE_BEHIND_LIMIT + Wire.PIPE_READ_CHUNK_SIZE, "bytes queued toward the worker: " + maxQueuedBytes.get());
        assertBystanderServed(bystanderPid);
        assertNotEquals(flooderPid, pid(flooder));
    }

    @Test
    public void testSpinningTenantGets504AndOthersAreServed() throws Exception
    {
        VirtualHost spinner = start("spinner", CAROL, vhost -> vhost.setRequestTimeoutMillis(REQUEST_TIMEOUT_MILLIS));
        long bystanderPid = pid(bystander);
        long spinnerPid = pid(spinner);
        try
        {
            // Spins far longer than the test: only the request timeout answers the client.
            CompletableFuture<ContentResponse> spinning = new CompletableResponseListener(
                front.request(front.http1, "spinner.test", "/spin?threads=" + SPINNING_THREADS + "&ms=" + TimeUnit.SECONDS.toMillis(TIMEOUT_SECONDS))).send();

            assertBystanderServed(bystanderPid);
            ContentResponse response = spinning.get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
            assertEquals(504, response.getStatus(), response::getContentAsString);
            assertBystanderServed(bystanderPid);
        }
        finally
        {
            // A spinning worker only stops at its own pace: spare the rest of the suite its CPU.
            ProcessHandle.of(spinnerPid).ifPresent(ProcessHandle::destroyForcibly);
        }
    }
}
