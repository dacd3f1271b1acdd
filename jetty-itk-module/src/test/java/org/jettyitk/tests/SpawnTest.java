package org.jettyitk.tests;

import java.io.IOException;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;

import org.eclipse.jetty.client.CompletableResponseListener;
import org.eclipse.jetty.client.ContentResponse;
import org.eclipse.jetty.util.component.LifeCycle;
import org.jettyitk.ItkHandler;
import org.jettyitk.VirtualHost;
import org.jettyitk.internal.front.ItkStatus;
import org.jettyitk.internal.launch.ProcessWorkerLauncher;
import org.jettyitk.internal.launch.WorkerClassPath;
import org.jettyitk.internal.front.WorkerPool;
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
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * <p>A worker's spawn holds no lock of its pool: while the process is launched, the pool answers (its counts, its
 * {@code dump()}, the status page) and takes more requests, which wait for that worker; a pool stopped during the
 * launch stops the worker it missed, and its stop waits for it; a launch that fails fails the requests that waited
 * for it and frees its slot.</p>
 * <p>The workers are launched by the product's {@link ProcessWorkerLauncher}, behind a gate the test opens.</p>
 */
public class SpawnTest
{
    private static final String HOST = "alice.test";

    private final CountDownLatch launching = new CountDownLatch(1);
    private final CountDownLatch gate = new CountDownLatch(1);
    private final List<Process> launched = new CopyOnWriteArrayList<>();
    /** How many launches, from the first, fail once past the gate. */
    private final AtomicInteger failures = new AtomicInteger();
    private ItkTestServer front;
    private VirtualHost alice;

    @BeforeEach
    public void assumeRoot()
    {
        Assumptions.assumeTrue(ItkTestServer.isRoot(), "needs root: workers run as numeric uid 41001");
    }

    @AfterEach
    public void stop() throws Exception
    {
        gate.countDown();
        if (front != null)
            front.close();
    }

    /**
     * Starts a front whose launcher, on each launch, says so and waits for {@link #gate} before it forks.
     */
    private void start() throws Exception
    {
        front = new ItkTestServer();
        alice = front.addTestApp("alice", ALICE);
        String java = ProcessHandle.current().info().command().orElse("java");
        String classPath = WorkerClassPath.readableByAll(WorkerClassPath.ofLoader(ItkHandler.class), front.root);
        ProcessWorkerLauncher launcher = new ProcessWorkerLauncher(java, classPath, ItkHandler.DEFAULT_WORKER_JVM_OPTIONS, true);
        front.itk.setWorkerLauncher((arguments, directory) ->
        {
            launching.countDown();
            try
            {
                if (!gate.await(TIMEOUT_SECONDS, TimeUnit.SECONDS))
                    throw new IllegalStateException("the test never opened the gate");
            }
            catch (InterruptedException x)
            {
                throw new IllegalStateException(x);
            }
            if (failures.getAndDecrement() > 0)
                throw new IOException("launch refused by the test");
            Process process = launcher.launch(arguments, directory);
            launched.add(process);
            return process;
        });
        front.start();
    }

    private CompletableFuture<ContentResponse> send()
    {
        return new CompletableResponseListener(front.request(front.http1, HOST, "/pid")).send();
    }

    /**
     * Runs the call on another thread and waits for it no longer than the hang guard: a call that needs the lock a
     * launch holds does not return before the gate opens, and the test fails here.
     */
    private static <T> T within(String what, Callable<T> call) throws Exception
    {
        CompletableFuture<T> result = new CompletableFuture<>();
        Thread thread = new Thread(() ->
        {
            try
            {
                result.complete(call.call());
            }
            catch (Throwable x)
            {
                result.completeExceptionally(x);
            }
        }, "itk-test-" + what);
        thread.setDaemon(true);
        thread.start();
        try
        {
            return result.get(TIMEOUT_SECONDS / 4, TimeUnit.SECONDS);
        }
        catch (TimeoutException x)
        {
            throw new AssertionError(what + " waited for the launch", x);
        }
    }

    @Test
    public void testPoolAnswersWhileAWorkerIsLaunched() throws Exception
    {
        start();
        WorkerPool pool = front.itk.getWorkerPool(alice);
        CompletableFuture<ContentResponse> first = send();
        assertTrue(launching.await(TIMEOUT_SECONDS, TimeUnit.SECONDS), "no launch");

        // The launch is held at the gate: nothing of the pool's may wait for it.
        assertEquals(0, (int)within("getWorkerCount", pool::getWorkerCount));
        String dump = within("dump", pool::dump);
        assertTrue(dump.contains("launching=true"), dump);
        String status = within("status", () -> ItkStatus.toJson(front.itk));
        assertTrue(status.contains("\"name\":\"alice\""), status);
        CompletableFuture<ContentResponse> second = send();
        await().atMost(TIMEOUT_SECONDS, TimeUnit.SECONDS).until(() -> pool.getInFlight() == 2);
        assertFalse(first.isDone() || second.isDone(), "answered before the worker was launched");

        gate.countDown();
        ContentResponse one = first.get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
        ContentResponse two = second.get(TIMEOUT_SECONDS, TimeUnit.SECONDS);

        // Both waited for the one worker being launched.
        assertEquals(200, one.getStatus(), one::getContentAsString);
        assertEquals(200, two.getStatus(), two::getContentAsString);
        assertEquals(lines(one.getContentAsString()).get("pid"), lines(two.getContentAsString()).get("pid"));
        assertEquals(1, pool.getSpawned());
        assertEquals(1, launched.size());
    }

    @Test
    public void testFailedLaunchFailsItsWaitersAndFreesItsSlot() throws Exception
    {
        failures.set(1);
        start();
        WorkerPool pool = front.itk.getWorkerPool(alice);
        CompletableFuture<ContentResponse> first = send();
        assertTrue(launching.await(TIMEOUT_SECONDS, TimeUnit.SECONDS), "no launch");
        CompletableFuture<ContentResponse> second = send();
        await().atMost(TIMEOUT_SECONDS, TimeUnit.SECONDS).until(() -> pool.getInFlight() == 2);

        gate.countDown();

        // Both waited for the launch that failed: both get 503, and the slot is free again.
        assertEquals(503, first.get(TIMEOUT_SECONDS, TimeUnit.SECONDS).getStatus());
        assertEquals(503, second.get(TIMEOUT_SECONDS, TimeUnit.SECONDS).getStatus());
        assertEquals(0, front.itk.getWorkerBudget().getUsed());
        assertEquals(0, pool.getSpawned());
        ContentResponse next = send().get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
        assertEquals(200, next.getStatus(), next::getContentAsString);
        assertEquals(1, pool.getSpawned());
    }

    @Test
    public void testPoolStoppedDuringLaunchStopsItsWorker() throws Exception
    {
        start();
        WorkerPool pool = front.itk.getWorkerPool(alice);
        CompletableFuture<ContentResponse> request = send();
        assertTrue(launching.await(TIMEOUT_SECONDS, TimeUnit.SECONDS), "no launch");
        CompletableFuture<Void> stopped = CompletableFuture.runAsync(() -> LifeCycle.stop(pool));
        await().atMost(TIMEOUT_SECONDS, TimeUnit.SECONDS).until(pool::isStopping);

        // The process starts after its pool began to stop.
        gate.countDown();
        stopped.get(TIMEOUT_SECONDS, TimeUnit.SECONDS);

        // The pool's stop returned once the worker it never published had exited: nothing is left running.
        assertEquals(1, launched.size());
        Process process = launched.get(0);
        assertFalse(process.isAlive(), "worker " + process.pid() + " outlived its stopped pool");
        assertEquals(0, pool.getWorkerCount());
        assertEquals(0, front.itk.getWorkerBudget().getUsed());
        ContentResponse response = request.get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
        assertEquals(503, response.getStatus(), response::getContentAsString);
    }
}
