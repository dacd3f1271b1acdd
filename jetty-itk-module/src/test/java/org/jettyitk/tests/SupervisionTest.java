package org.jettyitk.tests;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.eclipse.jetty.client.CompletableResponseListener;
import org.eclipse.jetty.client.ContentResponse;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.client.Result;
import org.eclipse.jetty.server.handler.GracefulHandler;
import org.eclipse.jetty.util.component.LifeCycle;
import org.jettyitk.ItkHandler;
import org.jettyitk.VirtualHost;
import org.jettyitk.internal.front.Worker;
import org.jettyitk.internal.front.WorkerPool;
import org.jettyitk.internal.launch.ProcessWorkerLauncher;
import org.jettyitk.internal.launch.WorkerClassPath;
import org.jettyitk.internal.wire.WorkerExit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static org.awaitility.Awaitility.await;
import static org.jettyitk.tests.ItkTestServer.ALICE;
import static org.jettyitk.tests.ItkTestServer.TIMEOUT_SECONDS;
import static org.jettyitk.tests.ItkTestServer.lines;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * <p>The front supervises its workers: a worker killed by a signal fails only its own requests (502, or an
 * aborted response once committed), is reaped and classified, and is replaced on the next request; stopping
 * the front drains requests in flight and stops workers with status 0; a worker whose front dies exits on its
 * own (EOF on stdin).</p>
 * <p>The workers are launched by the product's {@link ProcessWorkerLauncher}, wrapped so that the test holds
 * each {@link Process} and can read its exit status.</p>
 */
public class SupervisionTest
{
    private static final String HOST = "alice.test";

    private ItkTestServer front;
    private VirtualHost alice;
    private final List<Process> launched = new CopyOnWriteArrayList<>();

    @BeforeEach
    public void assumeRoot()
    {
        Assumptions.assumeTrue(ItkTestServer.isRoot(), "needs root: workers run as numeric uid 41001");
    }

    @AfterEach
    public void stop() throws Exception
    {
        if (front != null)
            front.close();
    }

    /**
     * Starts a front with one TestApp vhost whose worker processes are recorded in {@link #launched}.
     *
     * @param graceful whether the server stops gracefully (Jetty's {@link GracefulHandler} and a stop timeout)
     */
    private void start(boolean graceful) throws Exception
    {
        front = new ItkTestServer();
        alice = front.addTestApp("alice", ALICE);
        // What ItkHandler builds by default, recorded: the product's launcher with the product's defaults.
        String java = ProcessHandle.current().info().command().orElse("java");
        String classPath = WorkerClassPath.readableByAll(WorkerClassPath.ofLoader(ItkHandler.class), front.root);
        ProcessWorkerLauncher launcher = new ProcessWorkerLauncher(java, classPath, ItkHandler.DEFAULT_WORKER_JVM_OPTIONS, true);
        front.itk.setWorkerLauncher((arguments, directory) ->
        {
            Process process = launcher.launch(arguments, directory);
            launched.add(process);
            return process;
        });
        if (graceful)
        {
            front.server.setHandler(new GracefulHandler(front.itk));
            front.server.setStopTimeout(TimeUnit.SECONDS.toMillis(TIMEOUT_SECONDS));
            // Jetty idles out quiet connections 1 s into a graceful stop: longer than the test's slow request.
            front.connector.setShutdownIdleTimeout(TimeUnit.SECONDS.toMillis(TIMEOUT_SECONDS));
        }
        front.start();
    }

    private WorkerPool pool()
    {
        return front.itk.getWorkerPool(alice);
    }

    private long pid() throws Exception
    {
        ContentResponse response = front.get(front.http1, HOST, "/pid");
        assertEquals(200, response.getStatus(), response::getContentAsString);
        return Long.parseLong(lines(response.getContentAsString()).get("pid"));
    }

    private Process process(long pid)
    {
        return launched.stream().filter(p -> p.pid() == pid).findFirst().orElseThrow();
    }

    private CompletableFuture<ContentResponse> send(HttpClient client, String pathQuery)
    {
        return new CompletableResponseListener(front.request(client, HOST, pathQuery)).send();
    }

    private void awaitInFlight(int requests)
    {
        await().atMost(TIMEOUT_SECONDS, TimeUnit.SECONDS).until(() -> pool().getWorkers().stream().mapToInt(Worker::getInFlight).sum() == requests);
    }

    /**
     * @return whether the process is gone or a zombie: it has exited either way
     */
    private static boolean hasExited(long pid) throws Exception
    {
        Path status = Path.of("/proc/" + pid + "/status");
        try
        {
            return Files.readAllLines(status).stream().anyMatch(line -> line.startsWith("State:") && line.contains("Z"));
        }
        catch (java.nio.file.NoSuchFileException x)
        {
            return true;
        }
    }

    private static boolean exists(long pid)
    {
        return Files.exists(Path.of("/proc/" + pid));
    }

    @Test
    public void testKilledWorkerFailsInFlightRequestsWith502() throws Exception
    {
        start(false);
        long pid = pid();
        CompletableFuture<ContentResponse> overHttp1 = send(front.http1, "/sleep?ms=5000");
        CompletableFuture<ContentResponse> overHttp2 = send(front.http2, "/sleep?ms=5000");
        awaitInFlight(2);

        ProcessHandle.of(pid).orElseThrow().destroyForcibly();

        for (CompletableFuture<ContentResponse> future : List.of(overHttp1, overHttp2))
        {
            ContentResponse response = future.get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
            assertEquals(502, response.getStatus(), response::getContentAsString);
        }
    }

    @Test
    public void testKilledWorkerAbortsCommittedResponses() throws Exception
    {
        start(false);
        long pid = pid();
        List<CompletableFuture<Integer>> statuses = new ArrayList<>();
        List<CompletableFuture<Result>> results = new ArrayList<>();
        for (HttpClient client : List.of(front.http1, front.http2))
        {
            CompletableFuture<Integer> status = new CompletableFuture<>();
            CompletableFuture<Result> result = new CompletableFuture<>();
            front.request(client, HOST, "/stall?ms=5000")
                .onResponseHeaders(response -> status.complete(response.getStatus()))
                .send(result::complete);
            statuses.add(status);
            results.add(result);
        }
        // Both responses are committed (headers and a first chunk sent) before the worker dies.
        for (CompletableFuture<Integer> status : statuses)
        {
            assertEquals(200, status.get(TIMEOUT_SECONDS, TimeUnit.SECONDS));
        }

        ProcessHandle.of(pid).orElseThrow().destroyForcibly();

        for (CompletableFuture<Result> future : results)
        {
            Result result = future.get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
            assertTrue(result.isFailed(), () -> "not aborted: " + result);
            assertEquals(200, result.getResponse().getStatus());
        }
    }

    @Test
    public void testNextRequestAfterKillSpawnsNewWorker() throws Exception
    {
        start(false);
        long first = pid();

        ProcessHandle.of(first).orElseThrow().destroyForcibly();
        process(first).onExit().get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
        await().atMost(TIMEOUT_SECONDS, TimeUnit.SECONDS).until(() -> pool().getWorkerCount() == 0);

        long second = pid();
        assertNotEquals(first, second);
        assertEquals(2, pool().getSpawned());
    }

    @Test
    public void testKilledWorkerIsReapedAndClassified() throws Exception
    {
        start(false);
        long pid = pid();

        ProcessHandle.of(pid).orElseThrow().destroyForcibly();

        Process process = process(pid).onExit().get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
        assertEquals(128 + 9, process.exitValue());
        assertEquals("signal=9", WorkerExit.describe(process.exitValue()));
        await().atMost(TIMEOUT_SECONDS, TimeUnit.SECONDS).until(() -> pool().getCrashes() == 1);
        // The front is the parent: it reaps the worker, so no zombie is left.
        await().atMost(TIMEOUT_SECONDS, TimeUnit.SECONDS).until(() -> !exists(pid));
    }

    @Test
    public void testStoppingHandlerDrainsInFlightRequestAndStopsWorkerNormally() throws Exception
    {
        start(false);
        // As when a vhost is retired: the handler stops while the server and its connections go on.
        assertStopCompletesInFlightRequestAndStopsWorkerNormally(front.itk);
    }

    @Test
    public void testStoppingServerStopsIdleWorkerNormally() throws Exception
    {
        start(false);
        long pid = pid();

        LifeCycle.stop(front.server);

        assertWorkerExitedNormally(pid);
    }

    @Test
    public void testStoppingServerGracefullyCompletesInFlightRequestAndStopsWorkerNormally() throws Exception
    {
        start(true);
        assertStopCompletesInFlightRequestAndStopsWorkerNormally(front.server);
    }

    @Test
    public void testStoppingServerWithStopTimeoutCompletesInFlightRequestWithoutGracefulHandler() throws Exception
    {
        // As a base of jetty-home stops on SIGTERM: a stop timeout (jetty.server.stopTimeout), no GracefulHandler.
        start(false);
        front.server.setStopTimeout(TimeUnit.SECONDS.toMillis(TIMEOUT_SECONDS));
        front.connector.setShutdownIdleTimeout(TimeUnit.SECONDS.toMillis(TIMEOUT_SECONDS));
        assertStopCompletesInFlightRequestAndStopsWorkerNormally(front.server);
    }

    @Test
    public void testReplacingVirtualHostReturnsBeforeOldWorkersDrain() throws Exception
    {
        start(false);
        long oldPid = pid();
        CompletableFuture<ContentResponse> inFlight = send(front.http1, "/sleep?ms=3000");
        awaitInFlight(1);
        VirtualHost replacement = new VirtualHost(alice.getName());
        replacement.setHostNames(alice.getHostNames().toArray(String[]::new));
        replacement.setUser(alice.getUser());
        replacement.setGroup(alice.getGroup());
        replacement.setApp(alice.getApp());
        replacement.setHandlerClass(alice.getHandlerClass());

        front.itk.replaceVirtualHost(alice, replacement);

        // The old worker still drains the slow request, and the new definition already takes requests.
        assertFalse(inFlight.isDone(), "replaceVirtualHost waited for the drain");
        alice = replacement;
        assertNotEquals(oldPid, pid());
        ContentResponse response = inFlight.get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
        assertEquals("slept\n", response.getContentAsString());
        assertWorkerExitedNormally(oldPid);
    }

    private void assertStopCompletesInFlightRequestAndStopsWorkerNormally(Object stopping) throws Exception
    {
        long pid = pid();
        CompletableFuture<ContentResponse> inFlight = send(front.http1, "/sleep?ms=1500");
        awaitInFlight(1);

        CompletableFuture<Void> stopped = CompletableFuture.runAsync(() -> LifeCycle.stop(stopping));

        ContentResponse response = inFlight.get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
        assertEquals(200, response.getStatus(), response::getContentAsString);
        assertEquals("slept\n", response.getContentAsString());
        stopped.get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
        assertWorkerExitedNormally(pid);
    }

    private void assertWorkerExitedNormally(long pid) throws Exception
    {
        Process process = process(pid).onExit().get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
        assertEquals(0, process.exitValue(), () -> "worker exit status " + process.exitValue());
    }

    @Test
    public void testWorkerExitsWhenItsFrontDies() throws Exception
    {
        Path log = Files.createTempFile("itk-orphaned-front-", ".log");
        String java = ProcessHandle.current().info().command().orElse("java");
        Process child = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"), DyingFront.class.getName())
            .redirectError(log.toFile())
            .start();
        Path root = null;
        long pid = -1;
        try
        {
            BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8));
            List<String> lines = CompletableFuture.supplyAsync(() -> List.of(readLine(out), readLine(out)))
                .get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
            root = Path.of(lines.get(0).substring("root=".length()));
            pid = Long.parseLong(lines.get(1).substring("pid=".length()));
            assertTrue(exists(pid), "worker " + pid + " of the front in " + child.pid());

            // SIGKILL: the front gets no chance to stop its worker.
            child.destroyForcibly();
            child.onExit().get(TIMEOUT_SECONDS, TimeUnit.SECONDS);

            long worker = pid;
            await().atMost(20, TimeUnit.SECONDS).until(() -> hasExited(worker));
        }
        catch (Throwable x)
        {
            System.err.println("front log " + log + ":\n" + Files.readString(log));
            throw x;
        }
        finally
        {
            child.destroyForcibly();
            if (pid > 0)
                ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
            if (root != null)
                deleteTree(root);
            Files.deleteIfExists(log);
        }
    }

    private static String readLine(BufferedReader in)
    {
        try
        {
            String line = in.readLine();
            assertNotNull(line, "the front exited before it printed");
            return line;
        }
        catch (java.io.IOException x)
        {
            throw new java.io.UncheckedIOException(x);
        }
    }

    private static void deleteTree(Path root) throws Exception
    {
        try (Stream<Path> tree = Files.walk(root))
        {
            for (Path path : tree.sorted(Comparator.reverseOrder()).toList())
            {
                Files.deleteIfExists(path);
            }
        }
    }

    /**
     * A front in its own JVM, for {@link #testWorkerExitsWhenItsFrontDies()}: serves one request, prints its
     * root directory and its worker's pid, and waits to be killed.
     */
    public static class DyingFront
    {
        public static void main(String[] args) throws Exception
        {
            ItkTestServer front = new ItkTestServer();
            // Everything under the root, so the test can delete what a killed front leaves.
            front.itk.setWorkDirectory(front.root.resolve("work"));
            front.addTestApp("alice", ALICE);
            front.start();
            ContentResponse response = front.get(front.http1, HOST, "/pid");
            System.out.println("root=" + front.root);
            System.out.println(response.getContentAsString().strip());
            System.out.flush();
            Thread.sleep(Long.MAX_VALUE);
        }
    }
}
