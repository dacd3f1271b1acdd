package org.jettyitk.distribution;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.eclipse.jetty.client.ContentResponse;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.client.Request;
import org.eclipse.jetty.client.transport.HttpClientTransportOverHTTP;
import org.eclipse.jetty.http2.client.HTTP2Client;
import org.eclipse.jetty.http2.client.transport.HttpClientTransportOverHTTP2;
import org.eclipse.jetty.io.ClientConnector;
import org.eclipse.jetty.util.component.LifeCycle;
import org.eclipse.jetty.util.ssl.SslContextFactory;

/**
 * <p>HTTP clients for a Jetty on the loopback interface: every host name resolves to 127.0.0.1, so that a request
 * for {@code http://alice.itk.test:PORT/} reaches the front with that {@code Host}, with no DNS and no
 * {@code /etc/hosts}.</p>
 */
public final class Clients implements AutoCloseable
{
    public static final long TIMEOUT_SECONDS = 60;
    public final HttpClient http1;
    public final HttpClient http2;

    public Clients() throws Exception
    {
        ClientConnector connector1 = new ClientConnector();
        connector1.setSslContextFactory(trustAll());
        http1 = new HttpClient(new HttpClientTransportOverHTTP(connector1));
        ClientConnector connector2 = new ClientConnector();
        connector2.setSslContextFactory(trustAll());
        http2 = new HttpClient(new HttpClientTransportOverHTTP2(new HTTP2Client(connector2)));
        for (HttpClient client : List.of(http1, http2))
        {
            client.setSocketAddressResolver((host, port, context, promise) ->
                promise.succeeded(List.of(new InetSocketAddress("127.0.0.1", port))));
            // Bodies as they come: the tests compare bytes and look at Content-Encoding themselves.
            client.getContentDecoderFactories().clear();
            client.start();
        }
    }

    /**
     * The test's self-signed certificate: trusted, and its names (*.itk.test) are the hosts the tests use.
     */
    private static SslContextFactory.Client trustAll()
    {
        SslContextFactory.Client ssl = new SslContextFactory.Client();
        ssl.setTrustAll(true);
        return ssl;
    }

    public Request request(HttpClient client, String uri)
    {
        return client.newRequest(uri).timeout(TIMEOUT_SECONDS, TimeUnit.SECONDS);
    }

    public ContentResponse get(String uri) throws Exception
    {
        return request(http1, uri).send();
    }

    /**
     * @return the response of one HTTP/1.1 request sent as bytes on a new connection, headers and body undecoded
     */
    public static RawResponse raw(int port, String request) throws IOException
    {
        try (Socket socket = new Socket("127.0.0.1", port))
        {
            socket.setSoTimeout((int)TimeUnit.SECONDS.toMillis(TIMEOUT_SECONDS));
            OutputStream out = socket.getOutputStream();
            out.write(request.getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            return RawResponse.read(socket.getInputStream());
        }
    }

    /**
     * An HTTP/1.1 response read up to the end of the connection: status, headers (lower-case names) and the body,
     * de-chunked.
     */
    public record RawResponse(int status, Map<String, String> headers, byte[] body)
    {
        static RawResponse read(InputStream in) throws IOException
        {
            byte[] all = in.readAllBytes();
            String text = new String(all, StandardCharsets.ISO_8859_1);
            int end = text.indexOf("\r\n\r\n");
            String[] lines = text.substring(0, end).split("\r\n");
            int status = Integer.parseInt(lines[0].split(" ")[1]);
            Map<String, String> headers = new LinkedHashMap<>();
            for (int i = 1; i < lines.length; i++)
            {
                int colon = lines[i].indexOf(':');
                headers.put(lines[i].substring(0, colon).trim().toLowerCase(Locale.ENGLISH), lines[i].substring(colon + 1).trim());
            }
            byte[] body = java.util.Arrays.copyOfRange(all, end + 4, all.length);
            if ("chunked".equalsIgnoreCase(headers.get("transfer-encoding")))
                body = dechunk(body);
            return new RawResponse(status, headers, body);
        }

        private static byte[] dechunk(byte[] chunked)
        {
            ByteArrayOutputStream body = new ByteArrayOutputStream();
            int position = 0;
            while (true)
            {
                int lineEnd = indexOfCrLf(chunked, position);
                String sizeLine = new String(chunked, position, lineEnd - position, StandardCharsets.ISO_8859_1);
                int semicolon = sizeLine.indexOf(';');
                int size = Integer.parseInt((semicolon < 0 ? sizeLine : sizeLine.substring(0, semicolon)).trim(), 16);
                position = lineEnd + 2;
                if (size == 0)
                    return body.toByteArray();
                body.write(chunked, position, size);
                position += size + 2;
            }
        }

        private static int indexOfCrLf(byte[] bytes, int from)
        {
            for (int i = from; i + 1 < bytes.length; i++)
            {
                if (bytes[i] == '\r' && bytes[i + 1] == '\n')
                    return i;
            }
            throw new IllegalArgumentException("no CRLF after " + from);
        }
    }

    @Override
    public void close()
    {
        LifeCycle.stop(http1);
        LifeCycle.stop(http2);
    }
}
