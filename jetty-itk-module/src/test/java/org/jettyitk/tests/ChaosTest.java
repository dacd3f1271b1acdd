package org.jettyitk.tests;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import org.eclipse.jetty.client.ContentResponse;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http2.client.HTTP2Client;
import org.eclipse.jetty.http2.client.transport.HttpClientTransportOverHTTP2;
import org.eclipse.jetty.util.component.LifeCycle;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.jettyitk.VirtualHost;
import org.jettyitk.internal.front.Worker;
import org.jettyitk.internal.front.WorkerPool;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static org.awaitility.Awaitility.await;
import static org.jettyitk.tests.ItkTestServer.ALICE;
import static org.jettyitk.tests.ItkTestServer.BOB;
import static org.jettyitk.tests.ItkTestServer.TIMEOUT_SECONDS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * <p>Load on two vhosts while the workers of one of them are killed with SIGKILL again and again: only that
 * vhost's requests fail, each kill fails at most the requests then in flight on it, and afterwards no process
 * and no file descriptor of the front is left over.</p>
 */
public class ChaosTest
{
    private static final long LOAD_MILLIS = 15_000;
    private static final long KILL_INTERVAL_MILLIS = 1000;
    /** Client threads per vhost; half over HTTP/1.1, half over HTTP/2. */
    private static final int THREADS_PER_VHOST = 4;
    /** A hang guard per request, well under the test's own. */
    private static final int REQUEST_TIMEOUT_SECONDS = 20;
    /** File descriptors the JVM may open for its own reasons meanwhile (a jar, a cache). */
    private static final int FD_SLACK = 3;

    private ItkTestServer front;
    private final List<HttpClient> loadClients = new ArrayList<>();

    @BeforeEach
    public void assumeRoot()
    {
        Assumptions.assumeTrue(ItkTestServer.isRoot(), "needs root: workers run as numeric uids 41001, 41002");
    }

    @AfterEach
    public void stop() throws Exception
    {
        loadClients.forEach(client -> LifeCycle.stop(client));
        if (front != null)
            front.close();
    }

    /**
     * The outcomes of the requests to one vhost.
     */
    private static class Tally
    {
        final AtomicLong sent = new AtomicLong();
        final AtomicLong ok = new AtomicLong();
        /** 502, or a response aborted after it was committed: the request was on a worker that died. */
        final AtomicLong failedInFlight = new AtomicLong();
        /** When each 502 or aborted request started and ended (nanoTime), to tell them from the kills. */
        final List<long[]> failures = new java.util.concurrent.CopyOnWriteArrayList<>();
        /** 503 with Retry-After: the vhost's workers crash-loop and spawning is paused. */
        final AtomicLong refused = new AtomicLong();
        final List<String> unexpected = new java.util.concurrent.CopyOnWriteArrayList<>();

        final List<String> kinds = new java.util.concurrent.CopyOnWriteArrayList<>();

        void onFailure(long start, String kind)
        {
            failedInFlight.incrementAndGet();
            failures.add(new long[]{start, System.nanoTime(), kinds.size()});
            kinds.add(kind);
        }

        /**
         * @return the failed requests that no kill happened during: they went to a worker already dead
         */
        long failedAfterKill(List<Long> kills)
        {
            return afterKill(kills).count();
        }

        private Stream<long[]> afterKill(List<Long> kills)
        {
            // The front learns of a death when the kernel closes the worker's pipe: a request that starts within
            // DEATH_NOTICE of a kill may still be sent to the dead worker, and is in flight on it.
            long notice = DEATH_NOTICE.toNanos();
            return failures.stream().filter(f -> kills.stream().noneMatch(k -> k - f[0] + notice >= 0 && f[1] - k >= 0));
        }

        /**
         * @return each failed request that no kill happened during: what it was and how long after the last
         * kill it started
         */
        List<String> describeAfterKill(List<Long> kills)
        {
            return afterKill(kills)
                .map(f -> kinds.get((int)f[2]) + " started " + kills.stream().filter(k -> f[0] - k >= 0).max(Long::compare)
                    .map(k -> TimeUnit.NANOSECONDS.toMillis(f[0] - k)).orElse(-1L) + "ms after a kill")
                .toList();
        }

        long failed()
        {
            return failedInFlight.get() + refused.get() + unexpected.size();
        }

        @Override
        public String toString()
        {
            return "sent=%d ok=%d failedInFlight=%d refused503=%d unexpected=%d".formatted(sent.get(), ok.get(), failedInFlight.get(), refused.get(), unexpected.size());
        }
    }

    private HttpClient newLoadClient(boolean http2) throws Exception
    {
        QueuedThreadPool threads = new QueuedThreadPool();
        threads.setName("chaos-client-" + (http2 ? "h2" : "h1"));
        HttpClient client = http2 ? new HttpClient(new HttpClientTransportOverHTTP2(new HTTP2Client())) : new HttpClient();
        client.setExecutor(threads);
        client.setSocketAddressResolver((host, port, context, promise) ->
            promise.succeeded(List.of(new InetSocketAddress("127.0.0.1", port))));
        client.start();
        loadClients.add(client);
        return client;
    }

    private static long openFileDescriptors() throws IOException
    {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd")))
        {
            return fds.count();
        }
    }

    private void load(HttpClient client, String protocol, String host, Tally tally, long deadline)
    {
        int i = 0;
        while (System.nanoTime() - deadline < 0)
        {
            // Quick requests and slower ones, so that a kill often finds some in flight.
            String pathQuery = i++ % 2 == 0 ? "/pid" : "/sleep?ms=50";
            tally.sent.incrementAndGet();
            long start = System.nanoTime();
            try
            {
                ContentResponse response = client.newRequest("http://" + host + ":" + front.port() + pathQuery)
                    .timeout(REQUEST_TIMEOUT_SECONDS, TimeUnit.SECONDS)
                    .send();
                int status = response.getStatus();
                if (status == 200)
                    tally.ok.incrementAndGet();
                else if (status == 502)
                    tally.onFailure(start, protocol + " " + pathQuery + " 502");
                else if (status == 503 && response.getHeaders().contains(HttpHeader.RETRY_AFTER))
                    tally.refused.incrementAndGet();
                else
                    tally.unexpected.add(host + pathQuery + " " + status);
            }
            catch (ExecutionException x)
            {
                // An aborted response; a timeout would be a hang, not an abort.
                if (x.getCause() instanceof TimeoutException)
                    tally.unexpected.add(host + pathQuery + " " + x.getCause());
                else
                    tally.onFailure(start, protocol + " " + pathQuery + " " + x.getCause());
            }
            catch (Throwable x)
            {
                tally.unexpected.add(host + pathQuery + " " + x);
            }
        }
    }

    /** Longest time between a SIGKILL and the front seeing its worker's pipe close, on a loaded 2-core machine. */
    private static final java.time.Duration DEATH_NOTICE = java.time.Duration.ofMillis(250);

    @Test
    public void testKillingOneVirtualHostsWorkersFailsOnlyItsRequestsInFlight() throws Exception
    {
        front = new ItkTestServer();
        VirtualHost victim = front.addTestApp("victim", ALICE);
        VirtualHost bystander = front.addTestApp("bystander", BOB);
        front.start();
        WorkerPool victimPool = front.itk.getWorkerPool(victim);
        for (VirtualHost vhost : List.of(victim, bystander))
        {
            assertEquals(200, front.get(front.http1, vhost.getHostNames().get(0), "/pid").getStatus());
        }
        long fdsBefore = openFileDescriptors();
        long bystanderPid = front.itk.getWorkerPool(bystander).getWorkers().get(0).getPid();

        Tally victimTally = new Tally();
        Tally bystanderTally = new Tally();
        List<Long> kills = new java.util.concurrent.CopyOnWriteArrayList<>();
        AtomicLong inFlightAtKills = new AtomicLong();
        AtomicBoolean loading = new AtomicBoolean(true);
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(LOAD_MILLIS);
        HttpClient http1 = newLoadClient(false);
        HttpClient http2 = newLoadClient(true);
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < 2 * THREADS_PER_VHOST; i++)
        {
            boolean onVictim = i < THREADS_PER_VHOST;
            HttpClient client = i % 2 == 0 ? http1 : http2;
            String protocol = i % 2 == 0 ? "h1" : "h2";
            String host = (onVictim ? victim : bystander).getHostNames().get(0);
            Tally tally = onVictim ? victimTally : bystanderTally;
            threads.add(new Thread(() -> load(client, protocol, host, tally, deadline), "chaos-load-" + i));
        }
        Thread killer = new Thread(() ->
        {
            while (loading.get())
            {
                try
                {
                    Thread.sleep(KILL_INTERVAL_MILLIS);
                }
                catch (InterruptedException x)
                {
                    return;
                }
                for (Worker worker : victimPool.getWorkers())
                {
                    if (worker.getState() != Worker.State.READY)
                        continue;
                    inFlightAtKills.addAndGet(worker.getInFlight());
                    ProcessHandle.of(worker.getPid()).ifPresent(process ->
                    {
                        process.destroyForcibly();
                        kills.add(System.nanoTime());
                    });
                }
            }
        }, "chaos-killer");
        threads.forEach(Thread::start);
        killer.start();
        for (Thread thread : threads)
        {
            thread.join(TimeUnit.SECONDS.toMillis(LOAD_MILLIS / 1000 + 2L * REQUEST_TIMEOUT_SECONDS));
        }
        loading.set(false);
        killer.join(TimeUnit.SECONDS.toMillis(TIMEOUT_SECONDS));

        System.out.printf("chaos: %d ms of load, %d client threads, a kill every %d ms%n", LOAD_MILLIS, 2 * THREADS_PER_VHOST, KILL_INTERVAL_MILLIS);
        long failedAfterKill = victimTally.failedAfterKill(kills);
        System.out.printf("chaos: victim    %s (of which started after the kill, on a dead worker: %d); workers killed=%d, requests in flight on them=%d, spawned=%d, crashes=%d%n",
            victimTally, failedAfterKill, kills.size(), inFlightAtKills.get(), victimPool.getSpawned(), victimPool.getCrashes());
        List<String> afterKill = victimTally.describeAfterKill(kills);
        System.out.printf("chaos: victim failures that started after a kill: %s%n", afterKill);
        System.out.printf("chaos: bystander %s%n", bystanderTally);
        System.out.printf("chaos: requests sent=%d failed=%d%n", victimTally.sent.get() + bystanderTally.sent.get(), victimTally.failed() + bystanderTally.failed());

        assertTrue(threads.stream().noneMatch(Thread::isAlive), "a load thread hangs");
        assertTrue(kills.size() > 0, "no worker was killed");
        assertEquals(bystanderTally.sent.get(), bystanderTally.ok.get(), bystanderTally::toString);
        assertEquals(bystanderPid, front.itk.getWorkerPool(bystander).getWorkers().get(0).getPid());
        assertEquals(List.of(), victimTally.unexpected);
        // A kill fails the requests then in flight on the worker: never more than the victim's clients.
        assertTrue(victimTally.failedInFlight.get() - failedAfterKill <= kills.size() * THREADS_PER_VHOST, victimTally::toString);

        // The victim recovers once any crash-loop backoff is over; then the front holds what it held before.
        await().atMost(TIMEOUT_SECONDS, TimeUnit.SECONDS).pollInterval(500, TimeUnit.MILLISECONDS)
            .until(() -> front.get(front.http1, victim.getHostNames().get(0), "/pid").getStatus() == 200);
        loadClients.forEach(client -> LifeCycle.stop(client));
        await().atMost(TIMEOUT_SECONDS, TimeUnit.SECONDS).pollInterval(200, TimeUnit.MILLISECONDS)
            .until(() -> openFileDescriptors() <= fdsBefore + FD_SLACK);
        System.out.printf("chaos: front file descriptors before=%d after=%d%n", fdsBefore, openFileDescriptors());
        // Every killed worker was reaped: the front's only children are the two live workers.
        assertEquals(1, victimPool.getWorkerCount());
        Set<Long> live = new TreeSet<>();
        for (VirtualHost vhost : List.of(victim, bystander))
        {
            front.itk.getWorkerPool(vhost).getWorkers().forEach(worker -> live.add(worker.getPid()));
        }
        await().atMost(TIMEOUT_SECONDS, TimeUnit.SECONDS).until(() -> front.workers().map(ProcessHandle::pid).collect(Collectors.toCollection(TreeSet::new)).equals(live));

        // A request that comes after a kill gets a live worker: only the requests in flight at the kill fail.
        assertEquals(List.of(), afterKill, victimTally::toString);
    }
}
