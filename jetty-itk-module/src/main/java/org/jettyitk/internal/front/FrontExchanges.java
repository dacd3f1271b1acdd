package org.jettyitk.internal.front;

import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpMethod;
import org.eclipse.jetty.http.HttpVersion;
import org.eclipse.jetty.http.PreEncodedHttpField;
import org.eclipse.jetty.http2.client.HTTP2Client;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;
import org.jettyitk.internal.pipe.PipeEndPoint;

/**
 * <p>The front's entry points into forwarding: the HTTP/2 client limits that bound what a worker can make the
 * front hold, and the start of one {@link FrontExchange}.</p>
 */
public final class FrontExchanges
{
    /** Largest HTTP/2 frame a worker may send: a response body crosses the pipe, and goes to the client, in few writes. */
    public static final int MAX_FRAME_SIZE = 64 * 1024;
    /** The HTTP/2 client parses a whole chunk of the pipe at once, not Jetty's default 8 KiB of it. */
    public static final int INPUT_BUFFER_SIZE = PipeEndPoint.READ_CHUNK_SIZE;
    /** Largest response header block a worker may send, decoded. */
    public static final int MAX_RESPONSE_HEADERS_SIZE = 64 * 1024;
    /** Largest HPACK dynamic table the front keeps for a worker. */
    public static final int MAX_DECODER_TABLE_CAPACITY = 4096;
    /** Flow-control windows the front gives a worker's responses: what a slow client can leave buffered. */
    public static final int STREAM_RECV_WINDOW = 1024 * 1024;
    public static final int SESSION_RECV_WINDOW = 16 * 1024 * 1024;
    public static final int MAX_SETTINGS_KEYS = 16;

    private FrontExchanges()
    {
    }

    public static void configureClient(HTTP2Client client)
    {
        client.setMaxFrameSize(MAX_FRAME_SIZE);
        client.setInputBufferSize(INPUT_BUFFER_SIZE);
        client.setMaxResponseHeadersSize(MAX_RESPONSE_HEADERS_SIZE);
        client.setMaxDecoderTableCapacity(MAX_DECODER_TABLE_CAPACITY);
        client.setInitialStreamRecvWindow(STREAM_RECV_WINDOW);
        client.setInitialSessionRecvWindow(SESSION_RECV_WINDOW);
        client.setMaxSettingsKeys(MAX_SETTINGS_KEYS);
        client.setMaxConcurrentPushedStreams(0);
        client.setUseALPN(false);
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
}
