package org.jettyitk.tests;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

import org.eclipse.jetty.client.CompletableResponseListener;
import org.eclipse.jetty.client.ContentResponse;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;
import org.jettyitk.VirtualHost;
import org.jettyitk.internal.front.WorkerPool;
import org.jettyitk.internal.launch.ProcessWorkerLauncher;
import org.jettyitk.internal.wire.WorkerArguments;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static org.awaitility.Awaitility.await;
import static org.jettyitk.tests.ItkTestServer.ALICE;
import static org.jettyitk.tests.ItkTestServer.BOB;
import static org.jettyitk.tests.ItkTestServer.lines;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * <p>Each pool policy of issue #4, observed on real workers: idle reaping, recycling by requests and by age,
 * the per-vhost request limit (503), the request timeout (504), the global worker cap, crash-loop backoff, and
 * the per-vhost worker settings (nice, rlimits, environment, stderr log, JVM options).</p>
 * <p>A front per test, one vhost per policy: {@link #stop()} checks that no worker is left.</p>
 */
public class PoolPolicyTest
{
    private static final long IDLE_TIMEOUT_MILLIS = 1500;
    private static final int CRASH_LIMIT = 3;
    private static final long CRASH_BACKOFF_MILLIS = 100;
    private static final long MAX_REQUESTS_PER_WORKER = 20;
    private static final int RECYCLE_REQUESTS = 100;
    private static final int RECYCLE_CONCURRENCY = 10;
    private static final int MAX_REQUESTS = 2;
    private static final int OVER_LIMIT_REQUESTS = 5;
    private static final long REQUEST_TIMEOUT_MILLIS = 1000;
    private static final long MAX_WORKER_AGE_MILLIS = 2000;
    private static final int NICE = 5;
    private static final long MAX_OPEN_FILES = 512;
    private static final long MAX_LOG_SIZE = 1024;
    private static final String JVM_OPTIONS = "-Xmx64m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xss512k -XX:+ExitOnOutOfMemoryError";
    /**
     * Names a worker's environment may hold besides the vhost's additions: with the worker's arguments and the
     * vhost's JVM options, kept off its world-readable command line.
     */
    private static final Set<String> WORKER_ENVIRONMENT = Set.of("LANG", "LC_ALL", "TZ", "PATH", "HOME", "TMPDIR", "USER", "LOGNAME", "MALLOC_ARENA_MAX",
        WorkerArguments.ENVIRONMENT_VARIABLE, "JDK_JAVA_OPTIONS");

    private ItkTestServer front;

    @BeforeEach
    public void assumeRoot()
    {
        Assumptions.assumeTrue(ItkTestServer.isRoot(), "needs root: workers run as numeric uids 41001, 41002");
    }

    @AfterEach
    public void stop() throws Exception
    {
        if (front != null)
            front.close();
    }

    /**
     * Starts a front with one TestApp vhost running as {@link ItkTestServer#ALICE}, configured by the test.
     */
    private VirtualHost start(String name, Consumer<VirtualHost> configure) throws Exception
    {
        front = new ItkTestServer();
        VirtualHost vhost = front.addTestApp(name, ALICE);
        configure.accept(vhost);
        front.http1.setMaxConnectionsPerDestination(RECYCLE_CONCURRENCY + OVER_LIMIT_REQUESTS);
        front.start();
        return vhost;
    }

    /**
     * Starts a front with a vhost that has every per-worker setting: nice, open files limit, an added
     * variable, JVM options and a log file in a root-owned 0755 directory.
     */
    private VirtualHost startWithSettings() throws Exception
    {
        return start("settings", vhost ->
        {
            vhost.setNice(NICE);
            vhost.setMaxOpenFiles(MAX_OPEN_FILES);
            vhost.addEnvironment("FOO", "bar");
            vhost.setJvmOptions(JVM_OPTIONS);
            vhost.setLogFile(logFile().toString());
            vhost.setMaxLogSize(MAX_LOG_SIZE);
        });
    }

    private Path logFile()
    {
        // The front's root is root-owned and 0755: a safe place for a log the front opens as root.
        return front.root.resolve("logs").resolve("settings.log");
    }

    private static String host(VirtualHost vhost)
    {
        return vhost.getHostNames().get(0);
    }

    private WorkerPool pool(VirtualHost vhost)
    {
        return front.itk.getWorkerPool(vhost);
    }

    private ContentResponse get(VirtualHost vhost, String pathQuery) throws Exception
    {
        return front.get(front.http1, host(vhost), pathQuery);
    }

    private long pid(VirtualHost vhost) throws Exception
    {
        ContentResponse response = get(vhost, "/pid");
        assertEquals(200, response.getStatus(), response::getContentAsString);
        return Long.parseLong(lines(response.getContentAsString()).get("pid"));
    }

    private static boolean isAlive(long pid)
    {
        return ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
    }

    private Map<String, String> limits(VirtualHost vhost) throws Exception
    {
        ContentResponse response = get(vhost, "/limits");
        assertEquals(200, response.getStatus(), response::getContentAsString);
        return lines(response.getContentAsString());
    }

    @Test
    public void testIdleWorkerIsReapedAndNextRequestSpawnsNewOne() throws Exception
    {
        VirtualHost idle = start("idle", vhost -> vhost.setIdleTimeoutMillis(IDLE_TIMEOUT_MILLIS));
        long first = pid(idle);
        assertEquals(1, pool(idle).getSpawned());

        await().atMost(30, TimeUnit.SECONDS).until(() -> !isAlive(first));
        await().atMost(30, TimeUnit.SECONDS).until(() -> pool(idle).getWorkerCount() == 0);

        long second = pid(idle);
        assertNotEquals(first, second);
        assertEquals(2, pool(idle).getSpawned());
    }

    @Test
    public void testWorkerIsRecycledAfterMaxRequestsWithoutFailingRequest() throws Exception
    {
        VirtualHost recycle = start("recycle", vhost -> vhost.setMaxRequestsPerWorker(MAX_REQUESTS_PER_WORKER));
        Set<Long> pids = new TreeSet<>();
        for (int sent = 0; sent < RECYCLE_REQUESTS; sent += RECYCLE_CONCURRENCY)
        {
            List<CompletableFuture<ContentResponse>> batch = new ArrayList<>();
            for (int i = 0; i < RECYCLE_CONCURRENCY; i++)
            {
                HttpClient client = i % 2 == 0 ? front.http1 : front.http2;
                batch.add(new CompletableResponseListener(front.request(client, host(recycle), "/pid")).send());
            }
            for (CompletableFuture<ContentResponse> future : batch)
            {
                ContentResponse response = future.get(ItkTestServer.TIMEOUT_SECONDS, TimeUnit.SECONDS);
                assertEquals(200, response.getStatus(), response::getContentAsString);
                pids.add(Long.parseLong(lines(response.getContentAsString()).get("pid")));
            }
        }

        assertTrue(pool(recycle).getSpawned() > 1, () -> "spawned " + pool(recycle).getSpawned());
        assertTrue(pids.size() > 1, () -> "pids " + pids);
        Set<Long> current = new TreeSet<>();
        pool(recycle).getWorkers().forEach(worker -> current.add(worker.getPid()));
        assertTrue(current.size() < pids.size(), () -> "current " + current + " of " + pids);
        await().atMost(30, TimeUnit.SECONDS).until(() -> pids.stream().filter(pid -> !current.contains(pid)).noneMatch(PoolPolicyTest::isAlive));
    }

    @Test
    public void testRequestsOverVirtualHostLimitGet503WithRetryAfter() throws Exception
    {
        VirtualHost limit = start("limit", vhost -> vhost.setMaxRequests(MAX_REQUESTS));
        pid(limit);
        List<CompletableFuture<ContentResponse>> responses = new ArrayList<>();
        for (int i = 0; i < OVER_LIMIT_REQUESTS; i++)
        {
            responses.add(new CompletableResponseListener(front.request(front.http1, host(limit), "/sleep?ms=3000")).send());
        }

        int ok = 0;
        int unavailable = 0;
        for (CompletableFuture<ContentResponse> future : responses)
        {
            ContentResponse response = future.get(ItkTestServer.TIMEOUT_SECONDS, TimeUnit.SECONDS);
            if (response.getStatus() == 503)
            {
                unavailable++;
                assertNotNull(response.getHeaders().get(HttpHeader.RETRY_AFTER), "Retry-After");
            }
            else
            {
                assertEquals(200, response.getStatus(), response::getContentAsString);
                ok++;
            }
        }
        assertEquals(MAX_REQUESTS, ok);
        assertEquals(OVER_LIMIT_REQUESTS - MAX_REQUESTS, unavailable);
    }

    @Test
    public void testRequestWhoseClientWentAwayReleasesItsSlot() throws Exception
    {
        VirtualHost limit = start("limit", vhost -> vhost.setMaxRequests(1));
        pid(limit);
        org.eclipse.jetty.client.Request request = front.request(front.http2, host(limit), "/sleep?ms=2000");
        CompletableFuture<ContentResponse> aborted = new CompletableResponseListener(request).send();
        await().atMost(ItkTestServer.TIMEOUT_SECONDS, TimeUnit.SECONDS).until(() -> pool(limit).getInFlight() == 1);

        // Over HTTP/2 the front hears of it at once: RST_STREAM.
        request.abort(new java.io.IOException("client gone"));
        assertThrows(java.util.concurrent.ExecutionException.class, () -> aborted.get(ItkTestServer.TIMEOUT_SECONDS, TimeUnit.SECONDS));

        // Hang guard only: the slot is free once the front has cancelled the worker's stream.
        await().atMost(10, TimeUnit.SECONDS).until(() -> pool(limit).getInFlight() == 0);
        assertEquals(200, get(limit, "/pid").getStatus());
    }

    @Test
    public void testRequestTimeoutGets504AndWorkerStaysUsable() throws Exception
    {
        VirtualHost timeout = start("timeout", vhost -> vhost.setRequestTimeoutMillis(REQUEST_TIMEOUT_MILLIS));
        long pid = pid(timeout);

        ContentResponse response = get(timeout, "/sleep?ms=3000");
        assertEquals(504, response.getStatus(), response::getContentAsString);

        assertEquals(pid, pid(timeout));
        assertEquals(1, pool(timeout).getSpawned());
    }

    @Test
    public void testWorkerIsRecycledAfterMaxAgeWhileServing() throws Exception
    {
        VirtualHost age = start("age", vhost -> vhost.setMaxWorkerAgeMillis(MAX_WORKER_AGE_MILLIS));
        long first = pid(age);
        long current = first;
        // Requests keep the worker busy, so only its age can end it: every one succeeds meanwhile.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(ItkTestServer.TIMEOUT_SECONDS);
        while (current == first && System.nanoTime() - deadline < 0)
        {
            Thread.sleep(100);
            current = pid(age);
        }
        assertNotEquals(first, current);
        assertTrue(pool(age).getSpawned() >= 2, () -> "spawned " + pool(age).getSpawned());
        await().atMost(30, TimeUnit.SECONDS).until(() -> !isAlive(first));
    }

    @Test
    public void testGlobalCapRefusesWorkerForSecondVirtualHost() throws Exception
    {
        front = new ItkTestServer();
        VirtualHost alice = front.addTestApp("alice", ALICE);
        VirtualHost bob = front.addTestApp("bob", BOB);
        front.itk.setMaxWorkers(1);
        front.start();
        long pid = pid(alice);

        ContentResponse refused = get(bob, "/pid");

        assertEquals(503, refused.getStatus(), refused::getContentAsString);
        assertNotNull(refused.getHeaders().get(HttpHeader.RETRY_AFTER), "Retry-After");
        assertEquals(0, pool(bob).getSpawned());
        assertTrue(isAlive(pid));
        assertEquals(pid, pid(alice));
    }

    @Test
    public void testCrashLoopBacksOffAndSparesOtherVirtualHosts() throws Exception
    {
        front = new ItkTestServer();
        VirtualHost crash = front.addTestApp("crash", ALICE);
        crash.setHandlerClass(CrashingApp.class.getName());
        VirtualHost other = front.addTestApp("other", ALICE);
        // Windows far longer than the test: however slowly the failing workers start, their crashes make one loop,
        // and the pause lasts until the end of the test.
        front.itk.setCrashLimit(CRASH_LIMIT);
        front.itk.setCrashIntervalMillis(TimeUnit.MINUTES.toMillis(10));
        front.itk.setMinCrashBackoffMillis(TimeUnit.MINUTES.toMillis(10));
        front.itk.setMaxCrashBackoffMillis(TimeUnit.MINUTES.toMillis(10));
        front.start();
        WorkerPool pool = pool(crash);
        // Each request spawns a worker that fails to deploy: 503, until the crashes trigger the backoff.
        for (int i = 0; i < CRASH_LIMIT; i++)
        {
            ContentResponse response = get(crash, "/pid");
            assertEquals(503, response.getStatus(), response::getContentAsString);
            assertNotNull(response.getHeaders().get(HttpHeader.RETRY_AFTER), "Retry-After");
        }
        await().atMost(30, TimeUnit.SECONDS).pollInterval(10, TimeUnit.MILLISECONDS).until(() -> pool.getCrashes() >= CRASH_LIMIT);
        long spawned = pool.getSpawned();

        ContentResponse paused = get(crash, "/pid");

        assertEquals(503, paused.getStatus(), paused::getContentAsString);
        assertNotNull(paused.getHeaders().get(HttpHeader.RETRY_AFTER), "Retry-After");
        assertEquals(spawned, pool.getSpawned());
        assertEquals(CRASH_LIMIT, pool.getCrashes());
        assertEquals(CRASH_LIMIT, spawned);
        assertEquals(200, get(other, "/pid").getStatus());
    }

    @Test
    public void testCrashBackoffEndsAndSpawningResumes() throws Exception
    {
        front = new ItkTestServer();
        VirtualHost crash = front.addTestApp("crash", ALICE);
        crash.setHandlerClass(CrashingApp.class.getName());
        // One crash is a loop; the pause is short, so the next request after it spawns again.
        front.itk.setCrashLimit(1);
        front.itk.setCrashIntervalMillis(TimeUnit.MINUTES.toMillis(10));
        front.itk.setMinCrashBackoffMillis(CRASH_BACKOFF_MILLIS);
        front.itk.setMaxCrashBackoffMillis(CRASH_BACKOFF_MILLIS);
        front.start();
        WorkerPool pool = pool(crash);
        assertEquals(503, get(crash, "/pid").getStatus());
        await().atMost(30, TimeUnit.SECONDS).pollInterval(10, TimeUnit.MILLISECONDS).until(() -> pool.getCrashes() == 1);

        // Whether a request falls within the pause or not, one after it spawns a worker again.
        await().atMost(30, TimeUnit.SECONDS).pollInterval(CRASH_BACKOFF_MILLIS, TimeUnit.MILLISECONDS).until(() ->
        {
            assertEquals(503, get(crash, "/pid").getStatus());
            return pool.getSpawned() == 2;
        });
    }

    @Test
    public void testNiceValueAppliesToEveryThread() throws Exception
    {
        Map<String, String> limits = limits(startWithSettings());
        assertEquals(Integer.toString(NICE), limits.get("nice"));
        assertEquals("[" + NICE + "]", limits.get("threadNices"));
    }

    @Test
    public void testEveryWorkerThreadRunsUnderBatchScheduling() throws Exception
    {
        // Whatever the vhost's settings: SCHED_BATCH is 3 in Linux's sched.h. The nice value stands beside it.
        Map<String, String> limits = limits(start("defaults", vhost -> {}));
        assertEquals("[3]", limits.get("threadPolicies"));
        assertEquals("[0]", limits.get("threadNices"));
    }

    @Test
    public void testMaxOpenFilesIsRlimit() throws Exception
    {
        assertEquals(MAX_OPEN_FILES + " " + MAX_OPEN_FILES, limits(startWithSettings()).get("limit Max open files"));
    }

    @Test
    public void testJvmOptionsTakeEffect() throws Exception
    {
        Map<String, String> limits = limits(startWithSettings());
        long maxMemory = Long.parseLong(limits.get("maxMemory"));
        assertTrue(maxMemory <= 64L * 1024 * 1024, () -> "maxMemory " + maxMemory);
        assertTrue(limits.get("jvmOptions").contains("-Xmx64m"), limits.get("jvmOptions"));
    }

    @Test
    public void testEnvironmentIsAllowListPlusAdditions() throws Exception
    {
        ContentResponse response = get(startWithSettings(), "/env");
        assertEquals(200, response.getStatus(), response::getContentAsString);
        Map<String, String> lines = lines(response.getContentAsString());

        assertEquals("bar", lines.get("env FOO"));
        assertEquals(ProcessWorkerLauncher.DEFAULT_MALLOC_ARENA_MAX, lines.get("env MALLOC_ARENA_MAX"));
        for (String key : lines.keySet())
        {
            if (key.startsWith("env "))
            {
                String name = key.substring("env ".length());
                assertTrue(name.equals("FOO") || WORKER_ENVIRONMENT.contains(name), () -> "variable " + name + " reached the worker: " + lines);
            }
        }
        assertFalse(lines.containsKey("env JAVA_TOOL_OPTIONS"));
        assertFalse(lines.containsKey("env LD_PRELOAD"));
        String home = lines.get("env HOME");
        assertNotNull(home);
        assertTrue(home.endsWith("/vhost-settings"), home);
        assertEquals(home, lines.get("property user.home"));
        assertEquals(home, lines.get("cwd"));
        assertEquals(home + "/tmp", lines.get("env TMPDIR"));
        assertEquals(Integer.toString(ALICE), lines.get("env USER"));
    }

    @Test
    public void testLogFileReceivesTenantStderrAndIsRotated() throws Exception
    {
        VirtualHost settings = startWithSettings();
        Path logFile = logFile();
        ContentResponse marker = get(settings, "/log?lines=1&text=tenant-marker");
        assertEquals(200, marker.getStatus(), marker::getContentAsString);
        Path rotated = logFile.resolveSibling(logFile.getFileName() + ".1");
        await().atMost(30, TimeUnit.SECONDS).until(() -> contains(logFile, "tenant-marker 0") || contains(rotated, "tenant-marker 0"));

        // Far more than the maximum size: the log is rotated, one .1 kept, each file bounded.
        ContentResponse filler = get(settings, "/log?lines=100&text=filler-line-of-some-forty-bytes-xxxxxxxx");
        assertEquals(200, filler.getStatus(), filler::getContentAsString);
        await().atMost(30, TimeUnit.SECONDS).until(() -> contains(logFile, "filler-line-of-some-forty-bytes-xxxxxxxx 99"));

        assertTrue(Files.exists(rotated));
        assertTrue(Files.size(logFile) <= MAX_LOG_SIZE, () -> "size " + logFile);
        assertTrue(Files.size(rotated) <= MAX_LOG_SIZE, () -> "size " + rotated);
        assertFalse(Files.exists(logFile.resolveSibling(logFile.getFileName() + ".2")));
        try (var files = Files.list(logFile.getParent()))
        {
            assertEquals(2, files.count());
        }
    }

    private static boolean contains(Path file, String text) throws Exception
    {
        return Files.exists(file) && Files.readString(file).contains(text);
    }

    @Test
    public void testLogFileInWorldWritableDirectoryFailsStart() throws Exception
    {
        front = new ItkTestServer();
        Path unsafe = Files.createDirectories(front.root.resolve("unsafe"));
        Files.setPosixFilePermissions(unsafe, PosixFilePermissions.fromString("rwxrwxrwx"));
        front.addTestApp("unsafe-log", ALICE).setLogFile(unsafe.resolve("unsafe.log").toString());

        Exception failure = assertThrows(Exception.class, front::start);

        String messages = messages(failure);
        assertTrue(messages.contains("vhost 'unsafe-log'"), messages);
        assertTrue(messages.contains("log directory " + unsafe + " refused: " + unsafe + " is writable by others than its owner (mode 0777)"), messages);
        assertFalse(Files.exists(unsafe.resolve("unsafe.log")));
    }

    @Test
    public void testLogFileInWorldWritableDirectoryFailsAddVirtualHost() throws Exception
    {
        start("safe", vhost -> {});
        Path unsafe = Files.createDirectories(front.root.resolve("unsafe"));
        Files.setPosixFilePermissions(unsafe, PosixFilePermissions.fromString("rwxrwxrwx"));
        VirtualHost vhost = new VirtualHost("unsafe-log");
        vhost.setHostNames("unsafe-log.test");
        vhost.setUser(Integer.toString(ALICE));
        vhost.setGroup(Integer.toString(ALICE));
        vhost.setApp(front.tenantDirectory("unsafe-log", ALICE).toString());
        vhost.setHandlerClass(TestApp.class.getName());
        vhost.setLogFile(unsafe.resolve("unsafe.log").toString());

        IllegalStateException failure = assertThrows(IllegalStateException.class, () -> front.itk.addVirtualHost(vhost));

        assertTrue(failure.getMessage().contains("vhost 'unsafe-log'"), failure.getMessage());
        assertTrue(failure.getMessage().contains("log directory " + unsafe + " refused: " + unsafe + " is writable by others than its owner (mode 0777)"), failure.getMessage());
        assertFalse(front.itk.getVirtualHosts().contains(vhost));
        assertEquals(404, front.get(front.http1, "unsafe-log.test", "/pid").getStatus());
    }

    private static String messages(Throwable failure)
    {
        StringBuilder messages = new StringBuilder();
        for (Throwable x = failure; x != null; x = x.getCause())
        {
            messages.append(x).append('\n');
            for (Throwable suppressed : x.getSuppressed())
            {
                messages.append(messages(suppressed));
            }
        }
        return messages.toString();
    }

    /**
     * A tenant handler that cannot be deployed: every worker of its vhost exits before it is ready.
     */
    public static class CrashingApp extends Handler.Abstract
    {
        public CrashingApp()
        {
            throw new IllegalStateException("this app cannot start");
        }

        @Override
        public boolean handle(Request request, Response response, Callback callback)
        {
            return false;
        }
    }
}
