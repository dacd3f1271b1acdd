package org.jettyitk.internal.front;

import java.io.BufferedOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import org.jettyitk.internal.pipe.TestPipe;

/**
 * <p>A worker {@link Process} with no process: its stdin, stdout and stderr are {@link TestPipe}s and its
 * "inside" is a {@link Peer} running in this JVM, such as a real Jetty server ({@link InJvmWorker}) or a scripted,
 * possibly hostile, HTTP/2 peer ({@link ScriptedWorker}).</p>
 * <p>It behaves as the JDK's process does where the front can tell: {@link #getOutputStream()} is buffered (one
 * pipe write per flush); the exit completes {@link #onExit()} asynchronously; a kill breaks the pipes (EOF on
 * stdout and stderr for the front, a broken pipe for its writes) and stops the peer's threads; every call to
 * {@link #onExit()} returns a new future, so a caller completing its copy does not complete the exit.</p>
 */
public class FakeWorkerProcess extends ReportedExitProcess
{
    /** Status of a process killed by SIGKILL, as Java reports it. */
    public static final int EXIT_KILLED = 128 + 9;
    /** Status of a process killed by SIGTERM, as Java reports it. */
    public static final int EXIT_TERMINATED = 128 + 15;
    /** Above Linux's largest pid_max (2^22): never a real process. */
    private static final AtomicLong PIDS = new AtomicLong(9_000_000);

    /**
     * What runs inside a fake worker process.
     */
    public interface Peer
    {
        /**
         * Runs on the process's main thread, like {@code main()}: it may return at once and keep working on its
         * own threads; if it throws, the process prints the failure on its stderr and exits with status 1.
         */
        void run(FakeWorkerProcess process) throws Exception;

        /**
         * The process is being killed and its pipes are broken: stop every thread of this peer, without blocking.
         */
        default void onKill()
        {
        }
    }

    private final long pid = PIDS.incrementAndGet();
    private final String vhost;
    private final Peer peer;
    private final TestPipe stdin;
    private final TestPipe stdout;
    private final TestPipe stderr;
    private final OutputStream frontOutput;
    private final AtomicInteger forcedKills = new AtomicInteger();
    private final AtomicInteger terminations = new AtomicInteger();
    private volatile boolean exiting;

    public FakeWorkerProcess(String vhost, Peer peer)
    {
        this.vhost = vhost;
        this.peer = peer;
        this.stdin = new TestPipe(vhost + "-" + pid + "-stdin");
        this.stdout = new TestPipe(vhost + "-" + pid + "-stdout");
        this.stderr = new TestPipe(vhost + "-" + pid + "-stderr");
        // As the JDK's ProcessPipeOutputStream: buffered, so each flush is one write to the pipe.
        this.frontOutput = new BufferedOutputStream(stdin.sink(), 8192);
    }

    /**
     * Starts the peer on the process's main thread.
     */
    public FakeWorkerProcess start()
    {
        Thread main = new Thread(this::runPeer, "itk-fake-" + vhost + "-" + pid);
        main.setDaemon(true);
        main.start();
        return this;
    }

    private void runPeer()
    {
        try
        {
            peer.run(this);
        }
        catch (Throwable x)
        {
            if (exiting)
                return;
            PrintStream err = new PrintStream(stderr.sink(), true, StandardCharsets.UTF_8);
            x.printStackTrace(err);
            exit(1);
        }
    }

    public String getVirtualHost()
    {
        return vhost;
    }

    public Peer getPeer()
    {
        return peer;
    }

    /**
     * @return the worker's stdin, as the worker reads it
     */
    public InputStream workerInput()
    {
        return stdin.source();
    }

    /**
     * @return the worker's stdout, as the worker writes it
     */
    public OutputStream workerOutput()
    {
        return stdout.sink();
    }

    /**
     * @return the worker's stderr, as the worker writes it
     */
    public OutputStream workerError()
    {
        return stderr.sink();
    }

    /**
     * @return how many times {@link #destroyForcibly()} was called
     */
    public int getForcedKills()
    {
        return forcedKills.get();
    }

    /**
     * @return how many times {@link #destroy()} was called
     */
    public int getTerminations()
    {
        return terminations.get();
    }

    public boolean hasExited()
    {
        return !isAlive();
    }

    /**
     * The worker exits by itself with this status, as {@code System.exit(status)}: its pipes close, and the exit
     * is seen asynchronously.
     */
    public void exit(int status)
    {
        synchronized (this)
        {
            if (exiting)
                return;
            exiting = true;
        }
        // The kernel closes every descriptor of a dead process: EOF on stdout and stderr for the front,
        // a broken pipe for the front's writes to stdin, and the worker's own blocked reads and writes end.
        stdin.killReader();
        stdout.closeSink();
        stderr.closeSink();
        // The JDK sees the exit on its reaper thread, never on the caller's.
        CompletableFuture.runAsync(() -> exited(status));
    }

    private void kill(int status)
    {
        if (exiting)
            return;
        try
        {
            peer.onKill();
        }
        finally
        {
            exit(status);
        }
    }

    @Override
    public OutputStream getOutputStream()
    {
        return frontOutput;
    }

    @Override
    public InputStream getInputStream()
    {
        return stdout.source();
    }

    @Override
    public InputStream getErrorStream()
    {
        return stderr.source();
    }

    @Override
    public void destroy()
    {
        terminations.incrementAndGet();
        kill(EXIT_TERMINATED);
    }

    @Override
    public Process destroyForcibly()
    {
        forcedKills.incrementAndGet();
        kill(EXIT_KILLED);
        return this;
    }

    @Override
    public boolean supportsNormalTermination()
    {
        return true;
    }

    @Override
    public long pid()
    {
        return pid;
    }

    @Override
    public String toString()
    {
        return "%s@%x[vhost=%s,pid=%d,alive=%b,exit=%d,forcedKills=%d,peer=%s]".formatted(getClass().getSimpleName(), hashCode(),
            vhost, pid, isAlive(), isAlive() ? -1 : exitValue(), forcedKills.get(), peer);
    }

    /**
     * Each read of the worker's stdout by the front gets at most one write of the worker: the worker chooses what
     * the front's reader sees at once.
     */
    public void segmentOutput()
    {
        stdout.setSegmented(true);
    }

    /**
     * The worker stops reading its stdin (or reads again): the front's writes fill the pipe, then block.
     */
    public void stallInput(boolean stalled)
    {
        stdin.stallReads(stalled);
    }

    /**
     * The worker closes its stdout and goes on living: EOF for the front, with the process still alive.
     */
    public void closeWorkerOutput()
    {
        stdout.closeSink();
    }
}
