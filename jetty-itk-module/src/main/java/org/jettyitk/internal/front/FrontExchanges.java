package org.jettyitk.internal.front;

import java.net.SocketAddress;
import java.util.Objects;

import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpMethod;
import org.eclipse.jetty.http.HttpVersion;
import org.eclipse.jetty.http.PreEncodedHttpField;
import org.eclipse.jetty.server.ConnectionMetaData;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;
import org.jettyitk.internal.pipe.ConnectionFacts;

/**
 * <p>The front's entry points into forwarding: the check that it can encode what it sends workers, and the start
 * of one {@link FrontExchange}. The HTTP/2 client's limits, which bound what a worker can make the front hold, are
 * {@link org.jettyitk.internal.wire.Wire#configureFront}'s.</p>
 */
public final class FrontExchanges
{
    /** The client connection's attribute that keeps the facts header of its last request. */
    private static final String FACTS_ATTRIBUTE = FrontExchanges.class.getName() + ".facts";

    private FrontExchanges()
    {
    }

    /**
     * <p>Checks that Jetty's HTTP/2 field encoder is there for the pre-encoded fields the front sends workers (the
     * methods and common values of Jetty's HPACK encoder, Content-Types of {@code MimeTypes}).
     * {@code PreEncodedHttpField} looks its encoders up once, through the class loader of the thread that first
     * uses it: loaded where the HPACK jar is not visible (a Jetty environment's class path rather than the
     * server's), it can encode none of them, and each such request would fail.</p>
     *
     * @throws IllegalStateException if it cannot encode them
     */
    public static void checkFieldEncoders()
    {
        try
        {
            new PreEncodedHttpField(HttpHeader.C_METHOD, HttpMethod.PUT.asString()).getEncodedLength(HttpVersion.HTTP_2);
        }
        catch (RuntimeException x)
        {
            throw new IllegalStateException("Jetty's PreEncodedHttpField has no HTTP/2 encoder: jetty-http2-hpack must be on the class path of " +
                PreEncodedHttpField.class.getClassLoader() + " (in a Jetty base, the server's: the itk module depends on http2-client for it)", x);
        }
    }

    /**
     * Forwards one request to a ready worker; the callback completes when the response has been written. A
     * WebSocket request (HTTP/1.1 upgrade or RFC 8441 extended CONNECT) becomes a {@link FrontTunnel}.
     */
    public static void forward(Worker worker, Request request, Response response, Callback callback)
    {
        if (FrontTunnel.isWebSocket(request))
            FrontTunnel.forward(worker, request, response, callback);
        else
            new FrontExchange(worker, request, response, callback).start();
    }

    /**
     * @param protocol the protocol the facts say the client spoke
     * @return the value of the {@link ConnectionFacts#HEADER} for a request, formatted once per client connection
     * while what it says stays the same (a {@code ForwardedRequestCustomizer} may give each request on one
     * connection from a proxy another client)
     */
    static String factsHeader(Request request, String protocol)
    {
        ConnectionMetaData connection = request.getConnectionMetaData();
        SocketAddress remote = connection.getRemoteSocketAddress();
        SocketAddress local = connection.getLocalSocketAddress();
        boolean secure = request.isSecure();
        if (connection.getAttribute(FACTS_ATTRIBUTE) instanceof FormattedFacts facts && facts.says(remote, local, secure, protocol))
            return facts.header();
        String header = ConnectionFacts.of(remote, local, secure, protocol).format();
        connection.setAttribute(FACTS_ATTRIBUTE, new FormattedFacts(remote, local, secure, protocol, header));
        return header;
    }

    private record FormattedFacts(SocketAddress remote, SocketAddress local, boolean secure, String protocol, String header)
    {
        boolean says(SocketAddress remote, SocketAddress local, boolean secure, String protocol)
        {
            return this.secure == secure && Objects.equals(this.remote, remote) && Objects.equals(this.local, local) && Objects.equals(this.protocol, protocol);
        }
    }
}
