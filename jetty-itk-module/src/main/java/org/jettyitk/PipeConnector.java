package org.jettyitk;

import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.GatheringByteChannel;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.function.IntSupplier;

import org.eclipse.jetty.io.ByteBufferPool;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.server.AbstractConnector;
import org.eclipse.jetty.server.ConnectionFactory;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.util.annotation.ManagedObject;
import org.eclipse.jetty.util.thread.Scheduler;
import org.jettyitk.internal.pipe.PipeEndPoint;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * <p>A server {@link org.eclipse.jetty.server.Connector} with no socket: its one connection runs over a pair of
 * pipe streams, in a worker process the stdin and stdout that the front holds the other ends of.</p>
 * <p>It accepts nothing. When started it opens its single {@link PipeEndPoint} and the connection of its
 * default {@link ConnectionFactory} (HTTP/2 with prior knowledge in a worker); every HTTP/2 stream then becomes
 * an ordinary Jetty request, so applications run exactly as they would behind a socket connector.</p>
 * <pre>{@code
 * Server server = new Server();
 * PipeConnector connector = new PipeConnector(server, System.in, System.out,
 *     new HTTP2CServerConnectionFactory(new HttpConfiguration()));
 * server.addConnector(connector);
 * server.start();
 * connector.getClosed().join(); // the front closed the pipe
 * }</pre>
 * <p>Start the connector only when the application is deployed: the peer takes the connection's first
 * bytes (the HTTP/2 SETTINGS) as the sign that requests may flow.</p>
 */
@ManagedObject("A connector over a pipe pair")
public class PipeConnector extends AbstractConnector
{
    private static final Logger LOG = LoggerFactory.getLogger(PipeConnector.class);

    private final InputStream input;
    private final OutputStream output;
    private final CompletableFuture<Void> closed = new CompletableFuture<>();
    private PipeEndPoint endPoint;
    private GatheringByteChannel directOutput;
    private IntSupplier directRoom;

    public PipeConnector(Server server, InputStream input, OutputStream output, ConnectionFactory... factories)
    {
        this(server, null, null, null, input, output, factories);
    }

    public PipeConnector(Server server, Executor executor, Scheduler scheduler, ByteBufferPool bufferPool, InputStream input, OutputStream output, ConnectionFactory... factories)
    {
        super(server, executor, scheduler, bufferPool, 0, factories);
        this.input = input;
        this.output = output;
        // The link lives as long as the worker: the pool, not an idle timer, decides when it ends.
        setIdleTimeout(-1);
    }

    /**
     * Lets the connection write to the pipe on its own thread when the pipe has room; see
     * {@link PipeEndPoint#setDirectOutput(GatheringByteChannel, IntSupplier)}. Call before start.
     */
    public void setDirectOutput(GatheringByteChannel channel, IntSupplier room)
    {
        this.directOutput = channel;
        this.directRoom = room;
    }

    @Override
    protected void doStart() throws Exception
    {
        super.doStart();
        endPoint = new PipeEndPoint(getScheduler(), getExecutor(), input, output, "worker-" + ProcessHandle.current().pid());
        endPoint.setIdleTimeout(getIdleTimeout());
        if (directOutput != null)
            endPoint.setDirectOutput(directOutput, directRoom);
        Connection connection = getDefaultConnectionFactory().newConnection(this, endPoint);
        endPoint.setConnection(connection);
        PipeEndPoint opened = endPoint;
        opened.closed().whenComplete((r, x) ->
        {
            onEndPointClosed(opened);
            closed.complete(null);
        });
        endPoint.onOpen();
        onEndPointOpened(endPoint);
        connection.onOpen();
        if (LOG.isDebugEnabled())
            LOG.debug("opened {} on {}", connection, this);
    }

    @Override
    protected void doStop() throws Exception
    {
        if (endPoint != null)
            endPoint.close();
        super.doStop();
    }

    @Override
    protected void accept(int acceptorID)
    {
        throw new UnsupportedOperationException("a pipe connector accepts nothing");
    }

    @Override
    public Object getTransport()
    {
        return endPoint;
    }

    /**
     * @return a future completed when the pipe connection has closed (the front closed the pipe or the
     * connection failed)
     */
    public CompletableFuture<Void> getClosed()
    {
        return closed;
    }
}
