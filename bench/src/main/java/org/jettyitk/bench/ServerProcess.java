package org.jettyitk.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * <p>A {@link BenchServer} in its own JVM, its output in a log file. {@link #close()} sends SIGTERM (the server
 * stops its workers), waits, and kills what is left of this process and its descendants, by pid.</p>
 */
public final class ServerProcess implements AutoCloseable
{
    public static final Duration READY_TIMEOUT = Duration.ofSeconds(120);
    public static final Duration STOP_TIMEOUT = Duration.ofSeconds(30);

    private final String name;
    private final Process process;
    private final Path log;
    private int port;

    private ServerProcess(String name, Process process, Path log)
    {
        this.name = name;
        this.process = process;
        this.log = log;
    }

    /**
     * Starts the JVM and returns at once: use {@link #awaitReady()} or poll its port.
     */
    public static ServerProcess launch(String name, List<String> command, Path log) throws IOException
    {
        ProcessBuilder builder = new ProcessBuilder(command);
        builder.redirectErrorStream(true);
        builder.redirectOutput(log.toFile());
        builder.redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()));
        return new ServerProcess(name, builder.start(), log);
    }

    public static ServerProcess start(String name, List<String> command, Path log) throws IOException, InterruptedException
    {
        ServerProcess server = launch(name, command, log);
        server.awaitReady();
        return server;
    }

    /**
     * Waits for the {@code READY port=N} line of {@link BenchServer}.
     */
    public void awaitReady() throws IOException, InterruptedException
    {
        long deadline = System.nanoTime() + READY_TIMEOUT.toNanos();
        while (System.nanoTime() - deadline < 0)
        {
            for (String line : Files.readAllLines(log))
            {
                if (line.startsWith(BenchServer.READY + " "))
                {
                    port = Integer.parseInt(line.replaceAll(".*port=(\\d+).*", "$1"));
                    return;
                }
            }
            if (!process.isAlive())
                throw new IOException(name + " exited with status " + process.exitValue() + " before it was ready: see " + log);
            Thread.sleep(20);
        }
        throw new IOException(name + " not ready within " + READY_TIMEOUT + ": see " + log);
    }

    public String name()
    {
        return name;
    }

    public long pid()
    {
        return process.pid();
    }

    public int port()
    {
        return port;
    }

    public Path log()
    {
        return log;
    }

    public boolean isAlive()
    {
        return process.isAlive();
    }

    /**
     * @return the pids of the worker JVMs (the children of an itk front)
     */
    public List<Long> workerPids()
    {
        return ProcStats.workers(process.pid());
    }

    /**
     * Waits until a front's class-data archive is trained: until it has no child but its workers.
     */
    public void awaitClassArchiveTraining(Duration timeout) throws InterruptedException
    {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!ProcStats.others(process.pid()).isEmpty())
        {
            if (System.nanoTime() > deadline)
            {
                System.out.println("WARNING: " + name + " still trains its class-data archive after " + timeout.toSeconds() + " s");
                return;
            }
            Thread.sleep(100);
        }
    }

    @Override
    public void close() throws InterruptedException
    {
        List<ProcessHandle> tree = new ArrayList<>(process.descendants().toList());
        process.destroy();
        if (!process.waitFor(STOP_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS))
        {
            System.err.println("bench: " + name + " did not stop within " + STOP_TIMEOUT + ": killing it");
            process.destroyForcibly();
            process.waitFor(STOP_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        }
        for (ProcessHandle child : tree)
        {
            try
            {
                child.onExit().get(STOP_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            }
            catch (Exception x)
            {
                System.err.println("bench: worker " + child.pid() + " of " + name + " still alive: killing it");
                child.destroyForcibly();
            }
        }
    }

    @Override
    public String toString()
    {
        return name + "[pid=" + process.pid() + ",port=" + port + "]";
    }
}
