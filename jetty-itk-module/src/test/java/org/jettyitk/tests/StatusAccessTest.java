package org.jettyitk.tests;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SelectionKey;
import java.nio.channels.SocketChannel;
import java.util.concurrent.TimeUnit;

import org.eclipse.jetty.client.ContentResponse;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http2.client.HTTP2Client;
import org.eclipse.jetty.http2.client.transport.HttpClientTransportOverHTTP2;
import org.eclipse.jetty.http2.server.HTTP2CServerConnectionFactory;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.io.ManagedSelector;
import org.eclipse.jetty.io.SocketChannelEndPoint;
import org.eclipse.jetty.server.ForwardedRequestCustomizer;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.component.LifeCycle;
import org.jettyitk.ItkHandler;
import org.jettyitk.internal.front.StatusAccess;
import org.jettyitk.internal.pipe.ConnectionFacts;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * <p>The status page names every tenant, its uid and its workers' pids: only the clients {@code statusAllow}
 * admits read it (loopback by default), judged by the address of their connection, never by {@code Host} or a
 * {@code Forwarded} header, even when Jetty's {@code ForwardedRequestCustomizer} made that header the request's
 * remote address. Others are answered as if there were no status page.</p>
 * <p>A client from elsewhere is a real TCP connection on loopback whose end point reports another address
 * ({@link OutsideConnector}), as the kernel would for a remote peer: the test sends no traffic off this
 * machine. The front has no vhost, so this runs without root.</p>
 */
public class StatusAccessTest
{
    private static final String STATUS_PATH = "/itk-status";
    /** A documentation address (RFC 5737). */
    private static final InetSocketAddress OUTSIDE = new InetSocketAddress(ConnectionFacts.parseLiteral("203.0.113.7"), 40000);

    private Server server;
    private ServerConnector loopback;
    private OutsideConnector outside;
    private final ItkHandler itk = new ItkHandler();
    private final HttpClient http1 = new HttpClient();
    private final HttpClient http2 = new HttpClient(new HttpClientTransportOverHTTP2(new HTTP2Client()));

    /**
     * @param forwarded whether the front resolves Forwarded / X-Forwarded-For, as with Jetty's {@code forwarded} module
     */
    private void start(boolean forwarded) throws Exception
    {
        server = new Server();
        HttpConfiguration config = new HttpConfiguration();
        if (forwarded)
            config.addCustomizer(new ForwardedRequestCustomizer());
        loopback = new ServerConnector(server, 1, 1, new HttpConnectionFactory(config), new HTTP2CServerConnectionFactory(config));
        loopback.setHost("127.0.0.1");
        outside = new OutsideConnector(server, config);
        outside.setHost("127.0.0.1");
        server.addConnector(loopback);
        server.addConnector(outside);
        itk.setStatusPath(STATUS_PATH);
        itk.setWorkerClassArchive(false);
        itk.setWorkerLauncher((arguments, directory) ->
        {
            throw new IOException("no worker in this test");
        });
        // What a request the status page refuses reaches instead: it shows the remote address the request reports.
        itk.setHandler(new Handler.Abstract()
        {
            @Override
            public boolean handle(Request request, Response response, Callback callback)
            {
                response.setStatus(404);
                Content.Sink.write(response, true, "next handler, remote " + Request.getRemoteAddr(request) + "\n", callback);
                return true;
            }
        });
        server.setHandler(itk);
        server.start();
        http1.start();
        http2.start();
    }

    @AfterEach
    public void stop()
    {
        LifeCycle.stop(http1);
        LifeCycle.stop(http2);
        if (server != null)
            LifeCycle.stop(server);
    }

    private ContentResponse status(String protocol, ServerConnector connector, HttpFields headers) throws Exception
    {
        HttpClient client = protocol.equals("HTTP/2.0") ? http2 : http1;
        // The host is the connector's address, which no vhost serves.
        return client.newRequest("http://127.0.0.1:" + connector.getLocalPort() + STATUS_PATH)
            .headers(h -> h.add(headers))
            .timeout(ItkTestServer.TIMEOUT_SECONDS, TimeUnit.SECONDS)
            .send();
    }

    private static void assertStatusPage(ContentResponse response)
    {
        assertEquals(200, response.getStatus(), response::getContentAsString);
        assertTrue(response.getContentAsString().startsWith("{\"workers\":"), response::getContentAsString);
    }

    private static void assertNoStatusPage(ContentResponse response, String remote)
    {
        assertEquals(404, response.getStatus(), response::getContentAsString);
        assertEquals("next handler, remote " + remote + "\n", response.getContentAsString());
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"HTTP/1.1", "HTTP/2.0"})
    public void testLoopbackClientReadsStatusPage(String protocol) throws Exception
    {
        start(false);

        assertStatusPage(status(protocol, loopback, HttpFields.EMPTY));
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"HTTP/1.1", "HTTP/2.0"})
    public void testClientFromElsewhereGetsNoStatusPage(String protocol) throws Exception
    {
        start(false);

        assertNoStatusPage(status(protocol, outside, HttpFields.EMPTY), "203.0.113.7");
    }

    /**
     * The attack: with the forwarded module on, a client from elsewhere says it is 127.0.0.1. The request's remote
     * address becomes 127.0.0.1 (the next handler shows it), the connection's does not.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"HTTP/1.1", "HTTP/2.0"})
    public void testClientFromElsewhereForgingLoopbackInForwardedGetsNoStatusPage(String protocol) throws Exception
    {
        start(true);

        HttpFields forwarded = HttpFields.build().add("X-Forwarded-For", "127.0.0.1").add("Forwarded", "for=127.0.0.1;host=127.0.0.1");
        assertNoStatusPage(status(protocol, outside, forwarded), "127.0.0.1");
        assertNoStatusPage(status(protocol, outside, HttpFields.build().add("X-Forwarded-For", "::1")), "[::1]");
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"HTTP/1.1", "HTTP/2.0"})
    public void testLoopbackClientIsJudgedByItsConnectionNotItsForwardedHeader(String protocol) throws Exception
    {
        start(true);

        assertStatusPage(status(protocol, loopback, HttpFields.build().add("X-Forwarded-For", "203.0.113.9").add("Forwarded", "for=203.0.113.9")));
    }

    @Test
    public void testConfiguredRangeAdmitsItsClientsOnly() throws Exception
    {
        itk.setStatusAllow(" 203.0.113.0/24 , 2001:db8::1 ");
        start(false);

        assertEquals("203.0.113.0/24,2001:db8::1", itk.getStatusAllow());
        assertStatusPage(status("HTTP/1.1", outside, HttpFields.EMPTY));
        assertNoStatusPage(status("HTTP/1.1", loopback, HttpFields.EMPTY), "127.0.0.1");
    }

    @Test
    public void testUnixDomainClientsOnlyWhenAllowed() throws Exception
    {
        start(false);
        outside.remote = UnixDomainSocketAddress.of("");

        ContentResponse refused = status("HTTP/1.1", outside, HttpFields.EMPTY);
        assertEquals(404, refused.getStatus(), refused::getContentAsString);
        assertFalse(refused.getContentAsString().contains("workers"), refused::getContentAsString);

        itk.setStatusAllow(StatusAccess.LOOPBACK + "," + StatusAccess.UNIX);
        assertStatusPage(status("HTTP/1.1", outside, HttpFields.EMPTY));
        assertStatusPage(status("HTTP/1.1", loopback, HttpFields.EMPTY));
    }

    @Test
    public void testEmptyAllowsNobodyAndNullRestoresLoopback() throws Exception
    {
        itk.setStatusAllow("");
        start(false);

        assertNoStatusPage(status("HTTP/1.1", loopback, HttpFields.EMPTY), "127.0.0.1");

        itk.setStatusAllow(null);
        assertEquals(StatusAccess.LOOPBACK, itk.getStatusAllow());
        assertStatusPage(status("HTTP/1.1", loopback, HttpFields.EMPTY));
    }

    /**
     * Entries are numeric: a name would be looked up, and short forms such as 127.1 read as other addresses.
     */
    @ParameterizedTest
    @ValueSource(strings = {"localhost", "cafe", "127.1", "2130706433", "10.10.10-14.0-128", "127.0.0.0/x", "127.0.0.0/-1", "127.0.0.1/33",
        "1.2.3.4-1.2.3.5-1.2.3.6", "127.0.0.1,,::1", "*"})
    public void testStatusAllowRefusesNamesAndShortForms(String allow)
    {
        IllegalArgumentException x = assertThrows(IllegalArgumentException.class, () -> itk.setStatusAllow(allow));
        assertTrue(x.getMessage().startsWith("statusAllow: "), x::getMessage);
        assertTrue(x.getMessage().contains("'" + allow.split(",")[0] + "'") || x.getMessage().contains("'" + allow + "'"), x::getMessage);
        assertEquals(StatusAccess.LOOPBACK, itk.getStatusAllow());
    }

    /**
     * A connector whose end points report {@link #remote} as their peer, as if the client were elsewhere.
     */
    private static class OutsideConnector extends ServerConnector
    {
        private volatile SocketAddress remote = OUTSIDE;

        private OutsideConnector(Server server, HttpConfiguration config)
        {
            super(server, 1, 1, new HttpConnectionFactory(config), new HTTP2CServerConnectionFactory(config));
        }

        @Override
        protected SocketChannelEndPoint newEndPoint(SocketChannel channel, ManagedSelector selector, SelectionKey key)
        {
            SocketChannelEndPoint endPoint = new SocketChannelEndPoint(channel, selector, key, getScheduler())
            {
                @Override
                public SocketAddress getRemoteSocketAddress()
                {
                    return remote;
                }
            };
            endPoint.setIdleTimeout(getIdleTimeout());
            return endPoint;
        }
    }
}
