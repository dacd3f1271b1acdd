package org.jettyitk.internal.front;

import java.io.OutputStream;
import java.util.function.Supplier;
import java.util.function.UnaryOperator;

import org.eclipse.jetty.http2.server.HTTP2CServerConnectionFactory;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.util.thread.Scheduler;
import org.eclipse.jetty.util.thread.ThreadPool;
import org.jettyitk.PipeConnector;

/**
 * <p>A well-behaved worker, as {@code WorkerMain} builds it but in this JVM and with no privilege drop: a Jetty
 * {@link Server} with a {@link PipeConnector} and {@link HTTP2CServerConnectionFactory} on the fake process's
 * stdin and stdout, and a handler. It ignores the front's {@code Itk-Connection} header (no customizer).</p>
 * <p>An optional filter sees every byte the worker writes, to mutate it ({@link MutatingOutputStream}).
 * Like {@code WorkerMain}, the process exits (status 0) once the front closed the pipe; a kill stops the
 * server.</p>
 */
public class InJvmWorker implements FakeWorkerProcess.Peer
{
    private final ThreadPool threadPool;
    private final Scheduler scheduler;
    private final Supplier<Handler> handlers;
    private final UnaryOperator<OutputStream> outputFilter;
    private volatile Server server;

    /**
     * @param threadPool a started thread pool, shared by workers (unmanaged by each server)
     * @param scheduler a started scheduler, shared by workers
     * @param handlers makes this worker's application handler
     * @param outputFilter wraps the worker's stdout, or {@link UnaryOperator#identity()}
     */
    public InJvmWorker(ThreadPool threadPool, Scheduler scheduler, Supplier<Handler> handlers, UnaryOperator<OutputStream> outputFilter)
    {
        this.threadPool = threadPool;
        this.scheduler = scheduler;
        this.handlers = handlers;
        this.outputFilter = outputFilter;
    }

    @Override
    public void run(FakeWorkerProcess process) throws Exception
    {
        Server server = new Server(threadPool, scheduler, null);
        HttpConfiguration config = new HttpConfiguration();
        config.setSendServerVersion(false);
        config.setSendDateHeader(false);
        HTTP2CServerConnectionFactory h2c = new HTTP2CServerConnectionFactory(config);
        PipeConnector connector = new PipeConnector(server, process.workerInput(), outputFilter.apply(process.workerOutput()), h2c);
        server.addConnector(connector);
        server.setHandler(handlers.get());
        this.server = server;
        connector.getClosed().whenComplete((r, x) -> stopThenExit(process));
        // As WorkerMain: the connector starts after the handler, so its SETTINGS mean "deployed".
        server.start();
    }

    private void stopThenExit(FakeWorkerProcess process)
    {
        Thread stopper = new Thread(() ->
        {
            stopServer();
            process.exit(0);
        }, "itk-fake-stop-" + process.pid());
        stopper.setDaemon(true);
        stopper.start();
    }

    private void stopServer()
    {
        Server server = this.server;
        if (server == null)
            return;
        try
        {
            server.stop();
        }
        catch (Exception x)
        {
            // A killed worker just goes away.
        }
    }

    @Override
    public void onKill()
    {
        // The pipes break right after this: the connector closes, and stopThenExit() stops the server.
    }

    @Override
    public String toString()
    {
        return "%s@%x[%s]".formatted(getClass().getSimpleName(), hashCode(), server);
    }
}
