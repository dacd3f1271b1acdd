package org.jettyitk.internal.launch;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.GatheringByteChannel;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.jettyitk.internal.posix.Posix;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * <p>A worker process as {@link ProcessWorkerLauncher} starts it: the leader of a session and process group of
 * its own, with protocol pipes the front made itself.</p>
 * <ul>
 *   <li>{@link #getOutputStream()} and {@link #getInputStream()} are the front's own ends of the worker's stdin
 *   and stdout, and {@link #getDirectOutput()} a non-blocking description of the stdin pipe, all opened through
 *   {@code /proc/self/fd}: the front never opens anything of the worker's, a process the tenant owns.</li>
 *   <li>{@link #destroy()} and {@link #destroyForcibly()} signal the worker's process group, and once the worker
 *   has exited, however it exited, what is left of its group is killed: what the tenant forked (and did not
 *   move to a session of its own) ends with the worker.</li>
 * </ul>
 */
public class WorkerProcess extends Process
{
    private static final Logger LOG = LoggerFactory.getLogger(WorkerProcess.class);
    private static final int SIGKILL = 9;
    private static final int SIGTERM = 15;

    private final Process process;
    private final OutputStream stdin;
    private final InputStream stdout;
    private final GatheringByteChannel directOutput;

    WorkerProcess(Process process, OutputStream stdin, InputStream stdout, GatheringByteChannel directOutput)
    {
        this.process = process;
        this.stdin = stdin;
        this.stdout = stdout;
        this.directOutput = directOutput;
        process.onExit().thenRun(this::killLeftovers);
    }

    /**
     * Kills what the worker left in its process group when it exited, however it exited. Linux keeps a process
     * group's id from being any new process's id while a member of the group lives: the signal reaches the
     * leftovers, or no one (ESRCH).
     */
    private void killLeftovers()
    {
        try
        {
            if (Posix.get().killProcessGroup(process.pid(), SIGKILL))
                LOG.info("killed what worker {} left in its process group", process.pid());
        }
        catch (IOException x)
        {
            LOG.warn("cannot kill what worker {} left in its process group: {}", process.pid(), x.getMessage());
        }
    }

    @Override
    public OutputStream getOutputStream()
    {
        return stdin;
    }

    @Override
    public InputStream getInputStream()
    {
        return stdout;
    }

    @Override
    public InputStream getErrorStream()
    {
        return process.getErrorStream();
    }

    /**
     * @return a non-blocking description of the worker's stdin pipe, or null if the front could not open one;
     * whoever uses it closes it
     */
    public GatheringByteChannel getDirectOutput()
    {
        return directOutput;
    }

    @Override
    public int waitFor() throws InterruptedException
    {
        return process.waitFor();
    }

    @Override
    public boolean waitFor(long timeout, TimeUnit unit) throws InterruptedException
    {
        return process.waitFor(timeout, unit);
    }

    @Override
    public int exitValue()
    {
        return process.exitValue();
    }

    @Override
    public boolean isAlive()
    {
        return process.isAlive();
    }

    @Override
    public long pid()
    {
        return process.pid();
    }

    @Override
    public ProcessHandle toHandle()
    {
        return process.toHandle();
    }

    @Override
    public CompletableFuture<Process> onExit()
    {
        return process.onExit().thenApply(p -> this);
    }

    @Override
    public boolean supportsNormalTermination()
    {
        return true;
    }

    /**
     * Sends SIGTERM to the worker's process group.
     */
    @Override
    public void destroy()
    {
        if (!signalGroup(SIGTERM))
            process.destroy();
    }

    /**
     * Sends SIGKILL to the worker's process group.
     */
    @Override
    public Process destroyForcibly()
    {
        if (!signalGroup(SIGKILL))
            process.destroyForcibly();
        return this;
    }

    /**
     * @return whether the group was signalled; false leaves it to the JDK, which signals the process alone: one
     * that has not reached its {@code setsid} yet, or has exited
     */
    private boolean signalGroup(int signal)
    {
        // Only while the leader is not reaped: its pid, the group's id, cannot be another process's yet.
        if (!process.isAlive())
            return false;
        try
        {
            return Posix.get().killProcessGroup(process.pid(), signal);
        }
        catch (IOException x)
        {
            LOG.warn("cannot signal the process group of worker {}: {}", process.pid(), x.getMessage());
            return false;
        }
    }

    @Override
    public String toString()
    {
        return "%s@%x[pid=%d]".formatted(getClass().getSimpleName(), hashCode(), process.pid());
    }
}
