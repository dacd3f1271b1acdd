package org.jettyitk.internal.front;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * <p>A worker process the front does not wait for itself: its exit is reported to it ({@link #exited(int)}), by
 * the spawner or by a watch on its pid. The waits, {@link #exitValue()}, {@link #isAlive()} and {@link #onExit()}
 * follow that report; the first report counts.</p>
 */
abstract class ReportedExitProcess extends Process
{
    private final CompletableFuture<Process> exit = new CompletableFuture<>();
    private final AtomicBoolean reported = new AtomicBoolean();
    private volatile int status;

    /**
     * Records the exit with its status, unless one was recorded already.
     */
    protected void exited(int status)
    {
        if (!reported.compareAndSet(false, true))
            return;
        this.status = status;
        exit.complete(this);
    }

    @Override
    public int waitFor() throws InterruptedException
    {
        try
        {
            exit.get();
        }
        catch (ExecutionException x)
        {
            throw new IllegalStateException(x);
        }
        return status;
    }

    @Override
    public boolean waitFor(long timeout, TimeUnit unit) throws InterruptedException
    {
        try
        {
            exit.get(timeout, unit);
            return true;
        }
        catch (TimeoutException x)
        {
            return false;
        }
        catch (ExecutionException x)
        {
            throw new IllegalStateException(x);
        }
    }

    @Override
    public int exitValue()
    {
        if (!exit.isDone())
            throw new IllegalThreadStateException("process " + pid() + " has not exited");
        return status;
    }

    @Override
    public boolean isAlive()
    {
        return !exit.isDone();
    }

    @Override
    public CompletableFuture<Process> onExit()
    {
        return exit.copy();
    }
}
