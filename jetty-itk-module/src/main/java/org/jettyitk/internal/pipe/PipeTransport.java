package org.jettyitk.internal.pipe;

import java.net.SocketAddress;
import java.util.Map;

import org.eclipse.jetty.io.ClientConnector;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.io.Transport;
import org.eclipse.jetty.util.Promise;

/**
 * <p>A client {@link Transport} whose only "connection" is an already open {@link PipeEndPoint}:
 * the front gives it to {@code HTTP2Client.connect(...)} to speak HTTP/2 over a worker's pipes.</p>
 * <p>It can connect once: a pipe pair cannot be reopened, a new worker brings a new transport.</p>
 */
public class PipeTransport implements Transport
{
    private final PipeEndPoint endPoint;

    public PipeTransport(PipeEndPoint endPoint)
    {
        this.endPoint = endPoint;
    }

    @Override
    public boolean requiresDomainNameResolution()
    {
        return false;
    }

    @Override
    public SocketAddress getSocketAddress()
    {
        return endPoint.getRemoteSocketAddress();
    }

    @Override
    public void connect(SocketAddress socketAddress, Map<String, Object> context)
    {
        @SuppressWarnings("unchecked")
        Promise<Connection> promise = (Promise<Connection>)context.get(ClientConnector.CONNECTION_PROMISE_CONTEXT_KEY);
        try
        {
            if (endPoint.getConnection() != null)
                throw new IllegalStateException("pipe already connected: " + endPoint);
            // This transport may be wrapped: the outermost one creates the connection.
            Transport transport = (Transport)context.getOrDefault(Transport.class.getName(), this);
            Connection connection = transport.newConnection(endPoint, context);
            endPoint.setConnection(connection);
            endPoint.onOpen();
            connection.onOpen();
            promise.succeeded(connection);
        }
        catch (Throwable x)
        {
            promise.failed(x);
        }
    }

    @Override
    public int hashCode()
    {
        return System.identityHashCode(endPoint);
    }

    @Override
    public boolean equals(Object obj)
    {
        return obj instanceof PipeTransport that && that.endPoint == endPoint;
    }

    @Override
    public String toString()
    {
        return "%s@%x[%s]".formatted(getClass().getSimpleName(), hashCode(), endPoint);
    }
}
