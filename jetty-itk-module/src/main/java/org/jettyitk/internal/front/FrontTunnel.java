package org.jettyitk.internal.front;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Base64;
import java.util.Set;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;

import org.eclipse.jetty.http.HostPortHttpField;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpHeaderValue;
import org.eclipse.jetty.http.HttpMethod;
import org.eclipse.jetty.http.HttpStatus;
import org.eclipse.jetty.http.HttpURI;
import org.eclipse.jetty.http.HttpVersion;
import org.eclipse.jetty.http.MetaData;
import org.eclipse.jetty.http2.ErrorCode;
import org.eclipse.jetty.http2.api.Stream;
import org.eclipse.jetty.http2.frames.DataFrame;
import org.eclipse.jetty.http2.frames.HeadersFrame;
import org.eclipse.jetty.http2.frames.ResetFrame;
import org.eclipse.jetty.io.AbstractConnection;
import org.eclipse.jetty.io.ByteBufferPool;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.io.RetainableByteBuffer;
import org.eclipse.jetty.server.HttpStream;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.TunnelSupport;
import org.eclipse.jetty.util.BufferUtil;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.Promise;
import org.jettyitk.ItkHandler;
import org.jettyitk.internal.pipe.ConnectionFacts;
import org.jettyitk.internal.pipe.FieldNames;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * <p>One WebSocket forwarded from a client to a worker: an HTTP/1.1 {@code Upgrade: websocket} request or an
 * RFC 8441 extended CONNECT from an HTTP/2 client, carried to the worker as an extended CONNECT stream
 * ({@code :method CONNECT}, {@code :protocol websocket}), on which the tenant's Jetty runs its RFC 8441 handshake
 * and then the WebSocket frames, as DATA. The front does not parse the frames: it relays bytes.</p>
 * <pre>
 *   HANDSHAKE ──worker 2xx──▶ the client gets 101 (HTTP/1.1, Sec-WebSocket-Accept from its key) or 200 (HTTP/2),
 *       │                     Jetty hands the client's connection (or HTTP/2 stream) to a {@link ClientConnection}
 *       │                     ──▶ TUNNEL: bytes both ways ──both ends closed, a failure, idle──▶ DONE
 *       └──worker non-2xx──▶ RESPONSE: the worker's answer (a 404, a 403) goes to the client as is ──▶ DONE
 * </pre>
 * <p>Back-pressure both ways (as Jetty's {@code ConnectHandler}): C2W, the next read from the client only once the
 * previous DATA was written to the worker, which waits for the stream's flow-control window; W2C, the next DATA
 * demanded from the worker only once the previous bytes were written to the client. Nothing is buffered beyond one
 * read buffer and one DATA frame, and a WebSocket the client does not read stalls its own stream only.</p>
 * <p>Limits: {@link WorkerPool#getMaxWebSockets()} open at once per vhost (more get 503), and an idle timeout on
 * the client's side. A worker that exits ends its tunnels (the client's connection closes: 1006 for the
 * client); a worker that stops while tunnels are open is asked to stop its server, whose WebSocket container
 * closes every session with 1001, through the tunnel, before it exits.</p>
 */
class FrontTunnel implements Stream.Listener
{
    private static final Logger LOG = LoggerFactory.getLogger(FrontTunnel.class);
    /** RFC 6455 section 1.3: appended to the client's key before hashing it into Sec-WebSocket-Accept. */
    private static final String WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    private static final String WEBSOCKET = "websocket";
    /** RFC 6455 section 4.1: the key is 16 bytes, base64-encoded. */
    private static final int KEY_LENGTH = 16;
    /** Handshake fields of HTTP/1.1 that RFC 8441 has no use for: never sent to the worker. */
    private static final Set<String> HTTP1_HANDSHAKE = Set.of("sec-websocket-key", "sec-websocket-accept");
    /** What the front reads from a client at once, and so the most one C2W DATA frame carries. */
    static final int TUNNEL_BUFFER_SIZE = 32 * 1024;

    private enum Phase
    {
        HANDSHAKE, RESPONSE, TUNNEL, DONE
    }

    private final Worker worker;
    private final Request request;
    private final Response response;
    private final Callback callback;
    private final String accept;
    /** For toString(): Jetty recycles the request once the tunnel took over its connection. */
    private final String path;
    private final AtomicBoolean done = new AtomicBoolean();
    private volatile Phase phase = Phase.HANDSHAKE;
    private volatile Stream stream;
    private volatile ClientConnection connection;
    private boolean clientEnded;
    private boolean workerEnded;

    private FrontTunnel(Worker worker, Request request, Response response, Callback callback, String accept)
    {
        this.worker = worker;
        this.request = request;
        this.response = response;
        this.callback = callback;
        this.accept = accept;
        this.path = request.getHttpURI().getPath();
    }

    /**
     * @return whether the request asks for a WebSocket: an RFC 8441 extended CONNECT with {@code :protocol
     * websocket}, or an HTTP/1.1 {@code GET} with {@code Upgrade: websocket} and {@code Connection: upgrade}
     */
    static boolean isWebSocket(Request request)
    {
        if (isExtendedConnect(request))
            return true;
        HttpFields headers = request.getHeaders();
        return request.getConnectionMetaData().getHttpVersion() == HttpVersion.HTTP_1_1 && HttpMethod.GET.is(request.getMethod()) &&
            headers.contains(HttpHeader.UPGRADE, WEBSOCKET) && headers.contains(HttpHeader.CONNECTION, HttpHeaderValue.UPGRADE.asString());
    }

    /**
     * @return whether the request is an RFC 8441 extended CONNECT for a WebSocket (an HTTP/1.1 connection has a
     * {@link TunnelSupport} too, without a protocol)
     */
    private static boolean isExtendedConnect(Request request)
    {
        TunnelSupport tunnel = request.getTunnelSupport();
        return HttpMethod.CONNECT.is(request.getMethod()) && tunnel != null && WEBSOCKET.equalsIgnoreCase(tunnel.getProtocol());
    }

    /**
     * Forwards a request for which {@link #isWebSocket(Request)} holds; the callback completes when the handshake
     * response was written (the tunnel then lives on the client's connection, not in the request).
     */
    static void forward(Worker worker, Request request, Response response, Callback callback)
    {
        String accept = null;
        if (!isExtendedConnect(request))
        {
            String key = request.getHeaders().get(HttpHeader.SEC_WEBSOCKET_KEY);
            if (!isValidKey(key))
            {
                Response.writeError(request, response, callback, HttpStatus.BAD_REQUEST_400, "Bad Sec-WebSocket-Key: " + key);
                return;
            }
            accept = acceptOf(key);
        }
        WorkerPool pool = worker.getPool();
        if (!pool.tryOpenWebSocket())
        {
            response.getHeaders().put(HttpHeader.RETRY_AFTER, Integer.toString(ItkHandler.RETRY_AFTER_SECONDS));
            Response.writeError(request, response, callback, HttpStatus.SERVICE_UNAVAILABLE_503,
                "Service Unavailable: vhost " + pool.getName() + " has " + pool.getMaxWebSockets() + " WebSockets open");
            return;
        }
        new FrontTunnel(worker, request, response, callback, accept).start();
    }

    private static boolean isValidKey(String key)
    {
        if (key == null)
            return false;
        try
        {
            return Base64.getDecoder().decode(key.strip()).length == KEY_LENGTH;
        }
        catch (IllegalArgumentException x)
        {
            return false;
        }
    }

    /**
     * @return the {@code Sec-WebSocket-Accept} value for a client's key (RFC 6455 section 4.2.2)
     */
    static String acceptOf(String key)
    {
        try
        {
            MessageDigest sha1 = MessageDigest.getInstance("SHA-1");
            byte[] hash = sha1.digest((key.strip() + WEBSOCKET_GUID).getBytes(StandardCharsets.ISO_8859_1));
            return Base64.getEncoder().encodeToString(hash);
        }
        catch (NoSuchAlgorithmException x)
        {
            throw new IllegalStateException("no SHA-1 in this JVM", x);
        }
    }

    private void start()
    {
        MetaData.Request metaData = clientToWorkerConnect();
        int refusal = worker.checkEncodable(metaData);
        if (refusal != 0)
        {
            end(null);
            Response.writeError(request, response, callback, refusal, "Request header fields not valid for the worker");
            return;
        }
        request.addFailureListener(this::onClientFailure);
        worker.newTunnelStream(new HeadersFrame(metaData, null, false), new Promise<>()
        {
            @Override
            public void succeeded(Stream result)
            {
                stream = result;
                if (LOG.isDebugEnabled())
                    LOG.debug("F2W #{} CONNECT websocket {}", result.getId(), metaData.getHttpURI());
            }

            @Override
            public void failed(Throwable x)
            {
                fail(x);
            }
        }, this);
    }

    /**
     * @return the extended CONNECT the worker gets: the client's fields, less hop-by-hop, private and HTTP/1.1
     * handshake ones, and the connection facts, which say HTTP/2 (the tenant's Jetty takes a WebSocket over
     * HTTP/2 only from an HTTP/2 connection)
     */
    private MetaData.Request clientToWorkerConnect()
    {
        HttpURI uri = request.getHttpURI();
        HttpFields clientHeaders = request.getHeaders();
        HttpFields.Mutable fields = HttpFields.build(clientHeaders.size() + 3);
        Set<String> connectionOptions = FrontExchange.connectionOptions(clientHeaders);
        for (HttpField field : clientHeaders)
        {
            String name = field.getLowerCaseName();
            if (field.getHeader() == HttpHeader.HOST)
                fields.add(FieldNames.HOST, field.getValue());
            else if (!FrontExchange.isHopByHop(name) && !FrontExchange.isPrivate(name) && !connectionOptions.contains(name) && !HTTP1_HANDSHAKE.contains(name))
                fields.add(field);
        }
        FieldNames.addNames(clientHeaders, fields);
        fields.put(ConnectionFacts.HEADER, FrontExchanges.factsHeader(request, HttpVersion.HTTP_2.asString()));
        String scheme = request.isSecure() ? "https" : "http";
        return new MetaData.ConnectRequest(scheme, new HostPortHttpField(uri.getHost(), uri.getPort()), uri.getPathQuery(), fields, WEBSOCKET);
    }

    @Override
    public void onNewStream(Stream stream)
    {
        worker.onStreamOpened(stream.getId());
    }

    @Override
    public void onHeaders(Stream stream, HeadersFrame frame)
    {
        // newStream's promise completes once the CONNECT was written, and the worker's answer may be parsed, and
        // the client's side opened on it, before that: the client's side needs the stream now.
        this.stream = stream;
        MetaData metaData = frame.getMetaData();
        if (phase == Phase.HANDSHAKE && metaData.isResponse())
            onWorkerResponse(stream, (MetaData.Response)metaData, frame.isEndStream());
        else if (phase == Phase.RESPONSE && !metaData.isRequest() && !metaData.isResponse() && frame.isEndStream())
            response.write(true, BufferUtil.EMPTY_BUFFER, Callback.from(() -> succeedResponse(), this::fail));
        else
            onWorkerViolation("W2F #" + stream.getId() + " unexpected HEADERS in " + phase + " " + metaData);
    }

    private void onWorkerResponse(Stream stream, MetaData.Response metaData, boolean endStream)
    {
        int status = metaData.getStatus();
        String violation = WorkerOutputRules.checkResponse(status, metaData.getHttpFields());
        if (violation != null)
        {
            onWorkerViolation("W2F #" + stream.getId() + " " + violation);
            return;
        }
        if (HttpStatus.isInterim(status))
        {
            if (endStream)
                onWorkerViolation("W2F #" + stream.getId() + " interim status " + status + " ends the stream");
            return;
        }
        if (LOG.isDebugEnabled())
            LOG.debug("W2F #{} {} to CONNECT websocket, endStream={}", stream.getId(), status, endStream);
        if (!HttpStatus.isSuccess(status) || endStream)
        {
            // Refused (no endpoint at this path, a filter said no): the client gets the answer as it is.
            phase = Phase.RESPONSE;
            response.setStatus(endStream && HttpStatus.isSuccess(status) ? HttpStatus.BAD_GATEWAY_502 : status);
            FrontExchange.workerToFrontFields(metaData.getHttpFields(), response.getHeaders(), false);
            if (endStream)
                response.write(true, BufferUtil.EMPTY_BUFFER, Callback.from(this::succeedResponse, this::fail));
            else
                stream.demand();
            return;
        }
        phase = Phase.TUNNEL;
        EndPoint endPoint = accept == null ? request.getTunnelSupport().getEndPoint()
            : request.getConnectionMetaData().getConnection().getEndPoint();
        ClientConnection connection = new ClientConnection(endPoint);
        this.connection = connection;
        HttpFields.Mutable headers = response.getHeaders();
        FrontExchange.workerToFrontFields(metaData.getHttpFields(), headers, false);
        headers.remove(HttpHeader.CONTENT_LENGTH);
        if (accept != null)
        {
            response.setStatus(HttpStatus.SWITCHING_PROTOCOLS_101);
            headers.put(HttpHeader.UPGRADE, WEBSOCKET);
            headers.put(HttpHeader.CONNECTION, HttpHeaderValue.UPGRADE.asString());
            headers.put(HttpHeader.SEC_WEBSOCKET_ACCEPT, accept);
        }
        else
        {
            response.setStatus(HttpStatus.OK_200);
        }
        // Jetty hands the client's connection (HTTP/1.1) or stream (HTTP/2) to it once the response is written.
        request.setAttribute(HttpStream.UPGRADE_CONNECTION_ATTRIBUTE, connection);
        response.write(true, null, Callback.from(callback::succeeded, x ->
        {
            callback.failed(x);
            fail(x);
        }));
    }

    @Override
    public void onDataAvailable(Stream stream)
    {
        if (phase == Phase.RESPONSE)
            relayResponseContent(stream);
        else if (phase == Phase.TUNNEL)
            workerToClient(stream);
    }

    private void relayResponseContent(Stream stream)
    {
        Stream.Data data = stream.readData();
        if (data == null)
        {
            stream.demand();
            return;
        }
        boolean last = data.frame().isEndStream();
        response.write(last, data.frame().getByteBuffer(), Callback.from(() ->
        {
            data.release();
            if (last)
                succeedResponse();
            else
                stream.demand();
        }, x ->
        {
            data.release();
            fail(x);
        }));
    }

    private void succeedResponse()
    {
        if (end(null))
            callback.succeeded();
    }

    /**
     * W2C: one DATA frame at a time, the next demanded once the client took this one.
     */
    private void workerToClient(Stream stream)
    {
        ClientConnection connection = this.connection;
        Stream.Data data = stream.readData();
        if (data == null)
        {
            stream.demand();
            return;
        }
        boolean last = data.frame().isEndStream();
        ByteBuffer buffer = data.frame().getByteBuffer();
        Callback written = Callback.from(() ->
        {
            data.release();
            if (last)
                onWorkerEnded();
            else
                stream.demand();
        }, x ->
        {
            data.release();
            fail(x);
        });
        if (buffer.hasRemaining())
            connection.getEndPoint().write(written, buffer);
        else
            written.succeeded();
    }

    private void onWorkerEnded()
    {
        boolean both;
        synchronized (this)
        {
            workerEnded = true;
            both = clientEnded;
        }
        if (LOG.isDebugEnabled())
            LOG.debug("W2C #{} end of stream, client ended={}", stream.getId(), both);
        // The client's WebSocket gets the end after the last bytes (FIN, or END_STREAM for an HTTP/2 client).
        connection.getEndPoint().shutdownOutput();
        if (both)
            end(null);
    }

    private void onClientEnded()
    {
        boolean both;
        synchronized (this)
        {
            clientEnded = true;
            both = workerEnded;
        }
        if (both)
            end(null);
    }

    @Override
    public void onReset(Stream stream, ResetFrame frame, Callback callback)
    {
        fail(new IOException("W2F #" + stream.getId() + " reset: " + ErrorCode.toString(frame.getError(), "unknown")));
        callback.succeeded();
    }

    @Override
    public void onFailure(Stream stream, int error, String reason, Throwable failure, Callback callback)
    {
        fail(failure != null ? failure : new IOException("W2F #" + stream.getId() + " failed: " + reason));
        callback.succeeded();
    }

    @Override
    public void onIdleTimeout(Stream stream, TimeoutException x, Promise<Boolean> promise)
    {
        // The client's side carries the vhost's idle timeout: the worker's stream never expires on its own.
        promise.succeeded(false);
    }

    private void onClientFailure(Throwable failure)
    {
        if (phase == Phase.HANDSHAKE || phase == Phase.RESPONSE)
            fail(failure);
    }

    private void onWorkerViolation(String violation)
    {
        worker.onProtocolViolation(violation);
        fail(new ItkProtocolException(violation));
    }

    /**
     * Ends this tunnel on a failure: before the handshake response, with a 502; after it, by closing the client's
     * connection (the client's WebSocket sees an abnormal close) and resetting the worker's stream.
     */
    void fail(Throwable failure)
    {
        Phase previous = phase;
        if (!end(failure))
            return;
        if (LOG.isDebugEnabled())
            LOG.debug("{} failed in {}", this, previous, failure);
        ClientConnection connection = this.connection;
        if (connection != null && previous == Phase.TUNNEL)
        {
            connection.getEndPoint().close(failure);
            return;
        }
        if (response.isCommitted())
        {
            callback.failed(failure);
            return;
        }
        response.reset();
        Response.writeError(request, response, callback, HttpStatus.BAD_GATEWAY_502, "Bad Gateway: worker failed");
    }

    /**
     * @return whether this call ended the tunnel: the worker's stream is reset unless it ended, the counts drop
     */
    private boolean end(Throwable failure)
    {
        if (!done.compareAndSet(false, true))
            return false;
        phase = Phase.DONE;
        Stream stream = this.stream;
        if (stream != null && !stream.isClosed())
            stream.reset(new ResetFrame(stream.getId(), (failure == null ? ErrorCode.NO_ERROR : ErrorCode.CANCEL_STREAM_ERROR).code), Callback.NOOP);
        ClientConnection connection = this.connection;
        // Both ends are shut: an HTTP/1.1 client's connection is closed; an HTTP/2 client's stream is closed by
        // the two END_STREAMs already (closing its EndPoint now could reset it before the last DATA was read).
        if (failure == null && connection != null && accept != null)
            connection.getEndPoint().close();
        worker.onTunnelComplete(this);
        worker.getPool().closeWebSocket();
        return true;
    }

    @Override
    public String toString()
    {
        Stream stream = this.stream;
        return "%s@%x[#%s %s %s]".formatted(getClass().getSimpleName(), hashCode(), stream == null ? "-" : stream.getId(), phase, path);
    }

    /**
     * <p>The client's side of the tunnel, on the connection (HTTP/1.1) or stream (HTTP/2) Jetty hands over after
     * the handshake response. C2W: reads into one pooled buffer, sends it as DATA, and reads again only once the
     * worker's side took it. Bytes the client sent right behind its handshake come first.</p>
     */
    private class ClientConnection extends AbstractConnection implements Connection.UpgradeTo
    {
        private final ByteBufferPool bufferPool;
        private ByteBuffer early;

        private ClientConnection(EndPoint endPoint)
        {
            super(endPoint, request.getComponents().getExecutor());
            this.bufferPool = request.getComponents().getByteBufferPool();
        }

        @Override
        public void onUpgradeTo(ByteBuffer buffer)
        {
            early = BufferUtil.copy(buffer);
        }

        @Override
        public void onOpen()
        {
            super.onOpen();
            getEndPoint().setIdleTimeout(worker.getPool().getWebSocketIdleTimeout().toMillis());
            if (LOG.isDebugEnabled())
                LOG.debug("C2F tunnel open {} on {}", FrontTunnel.this, getEndPoint());
            stream.demand();
            ByteBuffer early = this.early;
            this.early = null;
            if (BufferUtil.hasContent(early))
                stream.data(new DataFrame(stream.getId(), early, false), Callback.from(this::fillInterested, FrontTunnel.this::fail));
            else
                fillInterested();
        }

        @Override
        public void onFillable()
        {
            RetainableByteBuffer buffer = bufferPool.acquire(TUNNEL_BUFFER_SIZE, false);
            int filled;
            try
            {
                filled = getEndPoint().fill(buffer.getByteBuffer());
            }
            catch (IOException x)
            {
                buffer.release();
                fail(x);
                return;
            }
            if (filled > 0)
            {
                stream.data(new DataFrame(stream.getId(), buffer.getByteBuffer(), false), Callback.from(() ->
                {
                    buffer.release();
                    onFillable();
                }, x ->
                {
                    buffer.release();
                    fail(x);
                }));
                return;
            }
            buffer.release();
            if (filled == 0)
            {
                fillInterested();
                return;
            }
            // The client closed its side: the worker's WebSocket sees the end of its stream.
            if (LOG.isDebugEnabled())
                LOG.debug("C2W #{} end of stream", stream.getId());
            Stream stream = FrontTunnel.this.stream;
            if (stream.isClosed())
                onClientEnded();
            else
                stream.data(new DataFrame(stream.getId(), BufferUtil.EMPTY_BUFFER, true), Callback.from(FrontTunnel.this::onClientEnded, FrontTunnel.this::fail));
        }

        @Override
        public boolean onIdleExpired(TimeoutException timeout)
        {
            if (LOG.isDebugEnabled())
                LOG.debug("C2F tunnel idle {}", FrontTunnel.this, timeout);
            fail(timeout);
            return true;
        }

        @Override
        public void onFillInterestedFailed(Throwable cause)
        {
            fail(cause);
        }

        @Override
        public void onClose(Throwable cause)
        {
            super.onClose(cause);
            // The client's connection closed under the tunnel: the worker's stream ends with it.
            fail(cause != null ? cause : new IOException("client connection closed"));
        }
    }
}
