package org.jettyitk.internal.worker;

import java.util.concurrent.TimeUnit;

import org.eclipse.jetty.http.Trailers;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.LocalConnector;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.FutureCallback;
import org.jettyitk.internal.pipe.ConnectionFacts;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * <p>The worker trusts the connection facts of the request's own header fields, one copy only, and nothing a
 * client can add: not a second copy, not trailers carrying {@code Itk-Connection} or {@code Forwarded}. The
 * customizer is protocol-agnostic; a local HTTP/1.1 connector stands in for the pipe.</p>
 */
public class ConnectionFactsCustomizerTest
{
    private static final String FACTS = "v=1;remote=192.0.2.10:1111;local=192.0.2.1:443;secure=true;protocol=HTTP/2.0";
    private static final String FACTS_HEADER = ConnectionFacts.HEADER;
    private static final String FORGED = "v=1;remote=127.0.0.1:2222;local=127.0.0.1:80;secure=false;protocol=HTTP/1.1";

    private Server server;
    private LocalConnector connector;

    @BeforeEach
    public void start() throws Exception
    {
        server = new Server();
        HttpConfiguration config = new HttpConfiguration();
        config.addCustomizer(new ConnectionFactsCustomizer());
        connector = new LocalConnector(server, new HttpConnectionFactory(config));
        server.addConnector(connector);
        server.setHandler(new Handler.Abstract()
        {
            @Override
            public boolean handle(Request request, Response response, Callback callback) throws Exception
            {
                String before = facts(request);
                String trailers = readTrailers(request);
                String body = "before " + before + "\nafter " + facts(request) + "\nheader " + request.getHeaders().get(FACTS_HEADER) +
                    "\ntrailers " + trailers + "\n";
                Content.Sink.write(response, true, body, callback);
                return true;
            }
        });
        server.start();
    }

    private static String facts(Request request)
    {
        return Request.getRemoteAddr(request) + ":" + Request.getRemotePort(request) + " local " + Request.getLocalAddr(request) + ":" +
            Request.getLocalPort(request) + " secure " + request.isSecure() + " " + request.getConnectionMetaData().getProtocol();
    }

    /**
     * Reads the whole body, blocking, and returns the trailers' field names, or "none".
     */
    private static String readTrailers(Request request) throws Exception
    {
        while (true)
        {
            Content.Chunk chunk = request.read();
            if (chunk == null)
            {
                FutureCallback demand = new FutureCallback();
                request.demand(demand::succeeded);
                demand.get(30, TimeUnit.SECONDS);
                continue;
            }
            if (Content.Chunk.isFailure(chunk))
                throw new IllegalStateException(chunk.getFailure());
            if (chunk instanceof Trailers trailers)
                return String.join(",", trailers.getTrailers().getFieldNamesCollection());
            boolean last = chunk.isLast();
            chunk.release();
            if (last)
                return "none";
        }
    }

    @AfterEach
    public void stop() throws Exception
    {
        server.stop();
    }

    private String exchange(String head, String trailers) throws Exception
    {
        String request = "POST /facts HTTP/1.1\r\nHost: alice.test\r\n" + head + "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
            "5\r\nhello\r\n0\r\n" + trailers + "\r\n";
        return connector.getResponse(request, 30, TimeUnit.SECONDS);
    }

    @Test
    public void testFactsComeFromTheHeaderNeverFromTrailers() throws Exception
    {
        String response = exchange(FACTS_HEADER + ": " + FACTS + "\r\n",
            FACTS_HEADER + ": " + FORGED + "\r\nForwarded: for=127.0.0.1;proto=http\r\nX-Forwarded-For: 127.0.0.1\r\n");

        assertTrue(response.startsWith("HTTP/1.1 200 "), response);
        String expected = "192.0.2.10:1111 local 192.0.2.1:443 secure true HTTP/2.0";
        assertTrue(response.contains("\nbefore " + expected + "\n"), response);
        assertTrue(response.contains("\nafter " + expected + "\n"), response);
        // The application never sees the private header among the request's fields.
        assertTrue(response.contains("\nheader null\n"), response);
        // Trailers are the client's data, passed as they are; they changed nothing above.
        assertTrue(response.contains("\ntrailers " + FACTS_HEADER + ",Forwarded,X-Forwarded-For\n"), response);
    }

    @Test
    public void testSecondCopyOfTheHeaderIsRefused() throws Exception
    {
        String response = exchange(FACTS_HEADER + ": " + FACTS + "\r\n" + FACTS_HEADER + ": " + FORGED + "\r\n", "");

        assertTrue(response.startsWith("HTTP/1.1 400 "), response);
        assertTrue(response.contains(FACTS_HEADER + " 2 copies, the front sends one"), response);
    }

    @Test
    public void testFactsOnlyInTrailersAreRefused() throws Exception
    {
        String response = exchange("", FACTS_HEADER + ": " + FACTS + "\r\n");

        assertTrue(response.startsWith("HTTP/1.1 400 "), response);
        assertTrue(response.contains(FACTS_HEADER + " missing"), response);
    }

    @Test
    public void testMalformedHeaderIsRefusedWithItsValue() throws Exception
    {
        String response = exchange(FACTS_HEADER + ": v=1;remote=127.1:80;local=127.0.0.1:1;secure=false;protocol=HTTP/1.1\r\n", "");

        assertTrue(response.startsWith("HTTP/1.1 400 "), response);
        assertTrue(response.contains("127.1:80"), response);
        assertEquals(-1, response.indexOf("\nbefore "), response);
    }
}
