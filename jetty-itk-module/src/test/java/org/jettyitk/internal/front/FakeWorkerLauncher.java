package org.jettyitk.internal.front;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Supplier;

import org.jettyitk.internal.launch.WorkerLauncher;
import org.jettyitk.internal.wire.WorkerArguments;

/**
 * <p>A {@link WorkerLauncher} that spawns {@link FakeWorkerProcess}es: per vhost, first the peers queued with
 * {@link #once(String, Supplier)}, in order, then the {@link #serve(String, Supplier) default} one.</p>
 * <pre>{@code
 * launcher.serve("evil", () -> new InJvmWorker(...));   // every fresh worker
 * launcher.once("evil", () -> new ScriptedWorker(...)); // but the first one is hostile
 * itkHandler.setWorkerLauncher(launcher);
 * }</pre>
 */
public class FakeWorkerLauncher implements WorkerLauncher
{
    private final Map<String, Supplier<FakeWorkerProcess.Peer>> defaults = new ConcurrentHashMap<>();
    private final Map<String, Deque<Supplier<FakeWorkerProcess.Peer>>> queued = new ConcurrentHashMap<>();
    private final List<FakeWorkerProcess> launched = new CopyOnWriteArrayList<>();

    /**
     * @return this launcher, whose workers for the vhost are now made by the supplier, after the queued ones
     */
    public FakeWorkerLauncher serve(String vhost, Supplier<FakeWorkerProcess.Peer> peers)
    {
        defaults.put(vhost, peers);
        return this;
    }

    /**
     * @return this launcher, whose next worker for the vhost (after those already queued) is made by the supplier
     */
    public FakeWorkerLauncher once(String vhost, Supplier<FakeWorkerProcess.Peer> peer)
    {
        queued.computeIfAbsent(vhost, k -> new ConcurrentLinkedDeque<>()).addLast(peer);
        return this;
    }

    @Override
    public Process launch(WorkerArguments arguments, Path workDirectory) throws IOException
    {
        String vhost = arguments.vhost();
        Deque<Supplier<FakeWorkerProcess.Peer>> next = queued.get(vhost);
        Supplier<FakeWorkerProcess.Peer> peers = next == null ? null : next.pollFirst();
        if (peers == null)
            peers = defaults.get(vhost);
        if (peers == null)
            throw new IOException("no fake worker for vhost " + vhost);
        FakeWorkerProcess process = new FakeWorkerProcess(vhost, peers.get());
        launched.add(process);
        return process.start();
    }

    /**
     * @return every process launched for the vhost, oldest first
     */
    public List<FakeWorkerProcess> launched(String vhost)
    {
        return launched.stream().filter(p -> p.getVirtualHost().equals(vhost)).toList();
    }

    public List<FakeWorkerProcess> launched()
    {
        return List.copyOf(launched);
    }

    /**
     * Kills every process still alive, as the OS would at the end of a test run.
     */
    public void killAll()
    {
        for (FakeWorkerProcess process : launched)
        {
            if (process.isAlive())
                process.destroyForcibly();
        }
    }
}
