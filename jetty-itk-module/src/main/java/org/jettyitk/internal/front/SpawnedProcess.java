package org.jettyitk.internal.front;

import java.io.File;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.GatheringByteChannel;
import java.util.Optional;

import org.jettyitk.internal.posix.DescriptorChannel;
import org.jettyitk.internal.spawner.SpawnerProtocol;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * <p>A worker the spawner started, as the front sees it: not its child, so the front neither waits for it nor
 * signals it itself (it may not: the worker is another uid). Its exit comes from the spawner's report; its
 * signals go through the spawner. Should the spawner be gone, its exit is watched through its pid, and a kill
 * closes its stdin instead (the worker exits at EOF).</p>
 */
public class SpawnedProcess extends ReportedExitProcess
{
    private static final Logger LOG = LoggerFactory.getLogger(SpawnedProcess.class);
    /** The exit status of a worker whose exit no spawner reported (the spawner was gone). */
    public static final int UNKNOWN_STATUS = -1;

    private final SpawnerLauncher spawner;
    private final long pid;
    private final OutputStream stdin;
    private final InputStream stdout;
    private final InputStream stderr;
    private final GatheringByteChannel directOutput;

    /**
     * @param fds the front's ends the spawner handed over: stdin's write end, stdout's and stderr's read ends; they
     * are reopened through {@code /proc/self/fd} (the spawner gave them to the front's uid) and closed
     */
    SpawnedProcess(SpawnerLauncher spawner, long pid, OutputStream stdin, InputStream stdout, InputStream stderr, GatheringByteChannel directOutput)
    {
        this.spawner = spawner;
        this.pid = pid;
        this.stdin = stdin;
        this.stdout = stdout;
        this.stderr = stderr;
        this.directOutput = directOutput;
    }

    static SpawnedProcess open(SpawnerLauncher spawner, long pid, int[] fds) throws IOException
    {
        OutputStream stdin = null;
        InputStream stdout = null;
        InputStream stderr = null;
        try
        {
            stdin = new FileOutputStream(ownEnd(fds[0]));
            stdout = new FileInputStream(ownEnd(fds[1]));
            stderr = new FileInputStream(ownEnd(fds[2]));
            GatheringByteChannel direct = null;
            try
            {
                direct = DescriptorChannel.openNonBlockingPipe(ownEnd(fds[0]).toPath());
            }
            catch (IOException x)
            {
                LOG.debug("no direct writes to the protocol pipe", x);
            }
            return new SpawnedProcess(spawner, pid, stdin, stdout, stderr, direct);
        }
        catch (IOException x)
        {
            for (AutoCloseable stream : new AutoCloseable[]{stdin, stdout, stderr})
            {
                if (stream == null)
                    continue;
                try
                {
                    stream.close();
                }
                catch (Exception e)
                {
                    x.addSuppressed(e);
                }
            }
            throw x;
        }
    }

    private static File ownEnd(int fd)
    {
        return new File("/proc/self/fd/" + fd);
    }

    /**
     * The spawner is gone: the exit is watched through the pid from now on.
     */
    void orphaned()
    {
        Optional<ProcessHandle> handle = ProcessHandle.of(pid);
        if (handle.isPresent())
            handle.get().onExit().thenRun(() -> exited(UNKNOWN_STATUS));
        else
            exited(UNKNOWN_STATUS);
    }

    /**
     * @return a non-blocking description of the worker's stdin pipe, or null; whoever uses it closes it
     */
    public GatheringByteChannel getDirectOutput()
    {
        return directOutput;
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
        return stderr;
    }

    @Override
    public long pid()
    {
        return pid;
    }

    @Override
    public boolean supportsNormalTermination()
    {
        return true;
    }

    /**
     * Has the spawner send SIGTERM to the worker's process group.
     */
    @Override
    public void destroy()
    {
        signal(SpawnerProtocol.SIGTERM);
    }

    /**
     * Has the spawner send SIGKILL to the worker's process group.
     */
    @Override
    public Process destroyForcibly()
    {
        signal(SpawnerProtocol.SIGKILL);
        return this;
    }

    private void signal(int signal)
    {
        if (!isAlive())
            return;
        if (spawner.signal(pid, signal))
            return;
        // No spawner to signal it: EOF on its stdin makes a worker exit.
        LOG.warn("worker {}: no spawner to signal it, closing its stdin", pid);
        try
        {
            stdin.close();
            if (directOutput != null)
                directOutput.close();
        }
        catch (IOException x)
        {
            LOG.debug("IGNORED", x);
        }
    }

    @Override
    public String toString()
    {
        return "%s@%x[pid=%d]".formatted(getClass().getSimpleName(), hashCode(), pid);
    }
}
