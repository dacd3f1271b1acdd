package org.jettyitk.internal.front;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;

import org.eclipse.jetty.http.HttpException;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpHeaderValue;
import org.eclipse.jetty.http.HttpMethod;
import org.eclipse.jetty.http.HttpStatus;
import org.eclipse.jetty.http.HttpURI;
import org.eclipse.jetty.http.HttpVersion;
import org.eclipse.jetty.http.MetaData;
import org.eclipse.jetty.http.Trailers;
import org.eclipse.jetty.http2.ErrorCode;
import org.eclipse.jetty.http2.api.Stream;
import org.eclipse.jetty.http2.frames.DataFrame;
import org.eclipse.jetty.http2.frames.HeadersFrame;
import org.eclipse.jetty.http2.frames.ResetFrame;
import org.eclipse.jetty.http2.hpack.HpackException;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.io.RetainableByteBuffer;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.BufferUtil;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.Promise;
import org.eclipse.jetty.util.StringUtil;
import org.eclipse.jetty.util.thread.Scheduler;
import org.jettyitk.internal.pipe.ConnectionFacts;
import org.jettyitk.internal.pipe.FieldNames;
import org.jettyitk.internal.wire.Wire;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * <p>One request forwarded from a client to a worker, and its response back, as one HTTP/2 stream.</p>
 * <p>The four legs, as in the debug logs:</p>
 * <pre>
 *   C2F client to front   Jetty's Request, read with read()/demand()
 *   F2W front to worker   HEADERS, DATA and trailer HEADERS on the stream, written only after the previous
 *                         write succeeded (back-pressure from the worker's flow-control window); the DATA
 *                         gathers what the client has already sent, up to REQUEST_GATHER_SIZE
 *   W2F worker to front   response HEADERS, DATA and trailers, demanded one at a time
 *   F2C front to client   Jetty's Response, the next DATA demanded only once the previous write succeeded,
 *                         so a slow client stalls its own stream's window and nothing else
 * </pre>
 * <p>Failures (DESIGN: failure policy): a request without a complete response after the vhost's request
 * timeout gets 504 (or an aborted stream when committed) and its worker stream is cancelled; a worker that dies, resets or sends malformed output gets a 502 if the
 * response is not committed, else the client's stream is aborted; a client that goes away cancels the worker's
 * stream. Everything the worker sends is checked again here: status range, header names and values.</p>
 * <p>{@code Expect: 100-continue}: the client's body is read only once the worker answered 100 (Jetty then
 * sends the client its own 100), so a worker that rejects the request never makes the client upload.</p>
 */
class FrontExchange implements Stream.Listener
{
    private static final Logger LOG = LoggerFactory.getLogger(FrontExchange.class);
    /** Hop-by-hop and routing headers that are never forwarded, in either direction. */
    private static final Set<String> HOP_BY_HOP = Set.of(
        "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "host",
        "http2-settings", "proxy-authenticate", "proxy-authorization");

    /**
     * Request content the client has already sent is gathered into DATA frames of up to this size: the client's
     * reads arrive in pieces of a few KiB, and each frame costs the worker a wake-up of the reading servlet.
     */
    static final int REQUEST_GATHER_SIZE = Wire.WORKER_MAX_FRAME_SIZE;

    private final Worker worker;
    private final Request request;
    private final Response response;
    private final Callback callback;
    private final AtomicBoolean done = new AtomicBoolean();
    private final boolean expectContinue;
    private volatile Stream stream;
    private volatile HttpFields responseTrailers;
    private volatile Scheduler.Task timeout;
    private boolean requestContentStarted;
    // A chunk read while gathering that did not belong in the frame (trailers, a failure, or too large): the
    // next one to forward. Only readRequestContent() and the callbacks of its writes touch it, one at a time.
    private Content.Chunk pendingChunk;

    FrontExchange(Worker worker, Request request, Response response, Callback callback)
    {
        this.worker = worker;
        this.request = request;
        this.response = response;
        this.callback = callback;
        this.expectContinue = request.getHeaders().contains(HttpHeader.EXPECT, HttpHeaderValue.CONTINUE.asString());
    }

    void start()
    {
        boolean hasContent = hasRequestContent();
        MetaData.Request metaData = clientToFrontRequest();
        // A request the front cannot encode fails here, alone: never on the worker's connection, which an
        // encoding failure would end with every stream on it.
        int refusal = worker.checkEncodable(metaData);
        if (refusal != 0)
        {
            Response.writeError(request, response, callback, refusal, refusal == HttpStatus.REQUEST_HEADER_FIELDS_TOO_LARGE_431
                ? "Request header fields too large for the worker" : "Request header field not valid in HTTP/2");
            return;
        }
        HeadersFrame headers = new HeadersFrame(metaData, null, !hasContent);
        request.addFailureListener(this::onClientFailure);
        // While the client's connection is quiet because the worker is working (no read or write pending on it),
        // its idle timeout is no failure, as for a plain Jetty's webapp: the vhost's request timeout bounds the
        // worker. A graceful stop shortens that idle timeout to a second, and would otherwise fail every slow
        // request in flight.
        request.addIdleTimeoutListener(timeout -> false);
        Duration requestTimeout = worker.getRequestTimeout();
        if (!requestTimeout.isZero())
            timeout = worker.getScheduler().schedule(this::onTimeout, requestTimeout.toMillis(), TimeUnit.MILLISECONDS);
        worker.newStream(headers, new Promise<>()
        {
            @Override
            public void succeeded(Stream result)
            {
                stream = result;
                if (LOG.isDebugEnabled())
                    LOG.debug("F2W #{} {} {}", result.getId(), metaData.getMethod(), metaData.getHttpURI());
                if (hasContent && !expectContinue)
                    startRequestContent();
            }

            @Override
            public void failed(Throwable x)
            {
                // HPACK refused to encode this request's fields: the front's failure, for this request only.
                if (x instanceof HpackException.StreamException)
                    abort(HttpStatus.INTERNAL_SERVER_ERROR_500, "Cannot forward the request", x);
                else
                    fail(x);
            }
        }, this);
    }

    private boolean hasRequestContent()
    {
        long length = request.getLength();
        if (length > 0)
            return true;
        if (length == 0)
            return false;
        // HTTP/1 without Content-Length and without Transfer-Encoding has no body; HTTP/2 and HTTP/3 may.
        HttpVersion version = request.getConnectionMetaData().getHttpVersion();
        return version.getVersion() >= 20 || request.getHeaders().contains(HttpHeader.TRANSFER_ENCODING);
    }

    private MetaData.Request clientToFrontRequest()
    {
        HttpURI clientUri = request.getHttpURI();
        HttpURI uri = HttpURI.build()
            .scheme(clientUri.getScheme())
            .host(clientUri.getHost())
            .port(clientUri.getPort())
            .pathQuery(clientUri.getPathQuery());
        HttpFields clientHeaders = request.getHeaders();
        HttpFields.Mutable fields = HttpFields.build(clientHeaders.size() + 3);
        Set<String> connectionOptions = connectionOptions(clientHeaders);
        for (HttpField field : clientHeaders)
        {
            String name = field.getLowerCaseName();
            // HTTP/2 drops Host for :authority; the tenant still sees the client's, where it was.
            if (field.getHeader() == HttpHeader.HOST)
                fields.add(FieldNames.HOST, field.getValue());
            else if (!isHopByHop(name) && !isPrivate(name) && !connectionOptions.contains(name))
                fields.add(field);
        }
        if (clientHeaders.contains(HttpHeader.TE, "trailers"))
            fields.add(HttpHeader.TE, "trailers");
        FieldNames.addNames(clientHeaders, fields);
        fields.put(ConnectionFacts.HEADER, FrontExchanges.factsHeader(request, request.getConnectionMetaData().getProtocol()));
        return new MetaData.Request(request.getMethod(), uri.asImmutable(), HttpVersion.HTTP_2, fields, request.getLength());
    }

    static boolean isHopByHop(String lowerCaseName)
    {
        return HOP_BY_HOP.contains(lowerCaseName);
    }

    /**
     * @return the names, in lower case, that the client's {@code Connection} headers list: hop-by-hop for this
     * connection only, never forwarded (RFC 9110 section 7.6.1)
     */
    static Set<String> connectionOptions(HttpFields fields)
    {
        if (!fields.contains(HttpHeader.CONNECTION))
            return Set.of();
        Set<String> options = new HashSet<>();
        for (String option : fields.getCSV(HttpHeader.CONNECTION, false))
        {
            options.add(StringUtil.asciiToLowerCase(option));
        }
        return options;
    }

    /**
     * @return whether a client must not set this field for the tenant: the ones that say the address, scheme or
     * host the tenant sees (the facts header says it all), and the front's own private fields
     */
    static boolean isPrivate(String lowerCaseName)
    {
        return lowerCaseName.equals("forwarded") || lowerCaseName.startsWith("x-forwarded-") ||
            lowerCaseName.equals(ConnectionFacts.LOWER_CASE_HEADER) || FieldNames.isPrivate(lowerCaseName);
    }

    private void startRequestContent()
    {
        synchronized (this)
        {
            if (requestContentStarted)
                return;
            requestContentStarted = true;
        }
        readRequestContent();
    }

    private void readRequestContent()
    {
        while (!done.get())
        {
            Content.Chunk chunk = pendingChunk != null ? pendingChunk : request.read();
            pendingChunk = null;
            if (chunk == null)
            {
                request.demand(this::readRequestContent);
                return;
            }
            if (Content.Chunk.isFailure(chunk))
            {
                onRequestContentFailure(chunk.getFailure());
                return;
            }
            if (chunk instanceof Trailers trailers)
            {
                MetaData metaData = new MetaData(HttpVersion.HTTP_2, clientToFrontTrailers(trailers.getTrailers()));
                stream.headers(new HeadersFrame(stream.getId(), metaData, null, true), Callback.from(chunk::release, this::fail));
                return;
            }
            ByteBuffer buffer = chunk.getByteBuffer();
            boolean last = chunk.isLast();
            if (!buffer.hasRemaining() && !last)
            {
                chunk.release();
                continue;
            }
            Content.Chunk frame = last || buffer.remaining() >= REQUEST_GATHER_SIZE ? chunk : gather(chunk);
            stream.data(new DataFrame(stream.getId(), frame.getByteBuffer(), frame.isLast()), Callback.from(() ->
            {
                frame.release();
                if (!frame.isLast())
                    readRequestContent();
            }, x ->
            {
                frame.release();
                releasePendingChunk();
                fail(x);
            }));
            return;
        }
        releasePendingChunk();
    }

    /**
     * @return the client's trailers less the fields a client never chooses for the tenant or that do not cross
     * HTTP/2, as for the headers
     */
    private static HttpFields clientToFrontTrailers(HttpFields trailers)
    {
        HttpFields.Mutable fields = HttpFields.build(trailers.size());
        for (HttpField field : trailers)
        {
            String name = field.getLowerCaseName();
            if (!isHopByHop(name) && !isPrivate(name))
                fields.add(field);
        }
        return fields;
    }

    /**
     * @return the first chunk, followed by what the client has already sent, up to {@link #REQUEST_GATHER_SIZE}
     * bytes, copied into one pooled buffer; the first chunk and those copied are released
     */
    private Content.Chunk gather(Content.Chunk first)
    {
        RetainableByteBuffer gathered = request.getComponents().getByteBufferPool().acquire(REQUEST_GATHER_SIZE, false);
        ByteBuffer target = gathered.getByteBuffer();
        BufferUtil.append(target, first.getByteBuffer());
        first.release();
        boolean last = false;
        while (!last && BufferUtil.space(target) > 0)
        {
            Content.Chunk next = request.read();
            if (next == null)
                break;
            if (Content.Chunk.isFailure(next) || next instanceof Trailers || next.remaining() > BufferUtil.space(target))
            {
                pendingChunk = next;
                break;
            }
            BufferUtil.append(target, next.getByteBuffer());
            last = next.isLast();
            next.release();
        }
        return Content.Chunk.from(target, last, gathered::release);
    }

    private void releasePendingChunk()
    {
        Content.Chunk chunk = pendingChunk;
        pendingChunk = null;
        if (chunk != null)
            chunk.release();
    }

    @Override
    public void onNewStream(Stream stream)
    {
        // Called before the HEADERS is written, newStream's promise only after: a client that fails meanwhile
        // must find the stream to cancel.
        this.stream = stream;
        worker.onStreamOpened(stream.getId());
    }

    @Override
    public void onHeaders(Stream stream, HeadersFrame frame)
    {
        MetaData metaData = frame.getMetaData();
        if (metaData.isResponse())
            onWorkerResponse(stream, (MetaData.Response)metaData, frame.isEndStream());
        else if (!metaData.isRequest() && frame.isEndStream())
            onWorkerTrailers(metaData.getHttpFields());
        else
            onWorkerViolation("W2F #" + stream.getId() + " unexpected HEADERS " + metaData);
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
            onWorkerInterimResponse(status, metaData.getHttpFields(), endStream);
            return;
        }
        if (LOG.isDebugEnabled())
            LOG.debug("W2F #{} {} endStream={}", stream.getId(), status, endStream);
        response.setStatus(status);
        HttpFields.Mutable headers = response.getHeaders();
        workerToFrontFields(metaData.getHttpFields(), headers, false);
        // A trailers supplier makes Jetty's HTTP/1.1 writer chunk the response: set it only when the worker's
        // response has no Content-Length, so a length the tenant set reaches the client.
        if (!metaData.getHttpFields().contains(HttpHeader.CONTENT_LENGTH))
            response.setTrailersSupplier(() -> responseTrailers);
        if (expectContinue && !requestContentStarted && hasRequestContent())
        {
            // The worker answered without asking for the body: the client's connection cannot be reused for it.
            headers.put(HttpHeader.CONNECTION, HttpHeaderValue.CLOSE);
        }
        if (endStream)
        {
            response.write(true, BufferUtil.EMPTY_BUFFER, Callback.from(this::succeed, this::fail));
        }
        else if (HttpMethod.HEAD.is(request.getMethod()))
        {
            // A response to HEAD has no content (RFC 9110 section 9.3.2): it is complete with its head, even when
            // the worker's Jetty (12.1.5 serving a static file) leaves its stream open after it. The stream is
            // then cancelled.
            response.write(true, BufferUtil.EMPTY_BUFFER, Callback.from(() ->
            {
                cancelStream();
                succeed();
            }, this::fail));
        }
        else
        {
            stream.demand();
        }
    }

    private void onWorkerInterimResponse(int status, HttpFields fields, boolean endStream)
    {
        if (endStream)
        {
            onWorkerViolation("W2F #" + stream.getId() + " interim status " + status + " ends the stream");
            return;
        }
        if (status == HttpStatus.CONTINUE_100)
        {
            if (expectContinue)
                startRequestContent();
            return;
        }
        // Other interim responses (103 Early Hints) go to the client as they are.
        HttpFields.Mutable interim = HttpFields.build(fields.size());
        workerToFrontFields(fields, interim, true);
        response.writeInterim(status, interim);
    }

    /**
     * Adds the worker's fields to the client's, less the hop-by-hop and private ones, with the names spelled as
     * the tenant spelled them (HPACK sent them lower-case). A final response has the front's own {@code Server}
     * and {@code Date} already, as its connector's configuration says; an interim one keeps the worker's.
     */
    static void workerToFrontFields(HttpFields workerFields, HttpFields.Mutable clientFields, boolean interim)
    {
        Map<String, String> names = FieldNames.names(workerFields);
        for (HttpField field : workerFields)
        {
            String name = field.getLowerCaseName();
            if (isHopByHop(name) || FieldNames.isPrivate(name))
                continue;
            if (!interim && (field.getHeader() == HttpHeader.SERVER || field.getHeader() == HttpHeader.DATE))
                continue;
            clientFields.add(FieldNames.restore(field, names));
        }
    }

    private void onWorkerTrailers(HttpFields trailers)
    {
        String violation = WorkerOutputRules.checkFields(trailers);
        if (violation != null)
        {
            onWorkerViolation("W2F trailers " + violation);
            return;
        }
        // The trailers are written when the end of stream, queued behind them, is read in onDataAvailable().
        responseTrailers = trailers;
    }

    @Override
    public void onDataAvailable(Stream stream)
    {
        while (!done.get())
        {
            Stream.Data data = stream.readData();
            if (data == null)
            {
                stream.demand();
                return;
            }
            DataFrame frame = data.frame();
            boolean last = frame.isEndStream();
            ByteBuffer buffer = frame.getByteBuffer();
            if (!buffer.hasRemaining() && !last)
            {
                data.release();
                continue;
            }
            response.write(last, buffer, Callback.from(() ->
            {
                data.release();
                if (last)
                    succeed();
                else
                    stream.demand();
            }, x ->
            {
                data.release();
                fail(x);
            }));
            return;
        }
    }

    @Override
    public void onReset(Stream stream, ResetFrame frame, Callback callback)
    {
        if (isConnectionError(frame.getError()))
            worker.onProtocolViolation("W2F #" + stream.getId() + " reset " + ErrorCode.toString(frame.getError(), "unknown"));
        fail(new IOException("W2F #" + stream.getId() + " reset: " + ErrorCode.toString(frame.getError(), "unknown")));
        callback.succeeded();
    }

    @Override
    public void onFailure(Stream stream, int error, String reason, Throwable failure, Callback callback)
    {
        // Bad header bytes (HPACK) or framing are the worker's fault even when HTTP/2 scopes them to a stream.
        if (isConnectionError(error))
            worker.onProtocolViolation("W2F #" + stream.getId() + " " + ErrorCode.toString(error, "unknown") + ": " + reason);
        fail(failure != null ? failure : new IOException("W2F #" + stream.getId() + " failed: " + reason));
        callback.succeeded();
    }

    private static boolean isConnectionError(int error)
    {
        return error == ErrorCode.PROTOCOL_ERROR.code || error == ErrorCode.COMPRESSION_ERROR.code ||
            error == ErrorCode.FRAME_SIZE_ERROR.code || error == ErrorCode.FLOW_CONTROL_ERROR.code;
    }

    private void onClientFailure(Throwable failure)
    {
        // The client went away: cancel the worker's stream and write nothing more.
        if (LOG.isDebugEnabled())
            LOG.debug("C2F failure on {}", this, failure);
        if (done.compareAndSet(false, true))
        {
            cancelTimeout();
            cancelStream();
            worker.onExchangeComplete(this);
            // Nothing more is written, but Jetty's request must still end.
            callback.failed(failure);
        }
    }

    /**
     * The client's content could not be read (a body that does not decode, bad framing, the client gone): that
     * request's failure, not the worker's, answered as a plain Jetty's app reading it would be (500, or the
     * status Jetty gave the failure).
     */
    private void onRequestContentFailure(Throwable failure)
    {
        int status = failure instanceof HttpException http ? http.getCode() : HttpStatus.INTERNAL_SERVER_ERROR_500;
        abort(status, "Cannot read the request content", failure);
    }

    private void onTimeout()
    {
        worker.onRequestTimeout();
        abort(HttpStatus.GATEWAY_TIMEOUT_504, "Gateway Timeout", new TimeoutException("request timeout " + worker.getRequestTimeout().toMillis() + "ms"));
    }

    private void cancelTimeout()
    {
        Scheduler.Task task = timeout;
        if (task != null)
            task.cancel();
    }

    private void onWorkerViolation(String violation)
    {
        worker.onProtocolViolation(violation);
        fail(new ItkProtocolException(violation));
    }

    private void succeed()
    {
        if (done.compareAndSet(false, true))
        {
            cancelTimeout();
            worker.onExchangeComplete(this);
            callback.succeeded();
        }
    }

    void fail(Throwable failure)
    {
        abort(HttpStatus.BAD_GATEWAY_502, "Bad Gateway: worker failed", failure);
    }

    /**
     * Ends the exchange once: cancels the worker's stream, then answers {@code status} if the response is not
     * committed, else aborts the client's stream.
     */
    private void abort(int status, String message, Throwable failure)
    {
        if (!done.compareAndSet(false, true))
            return;
        if (LOG.isDebugEnabled())
            LOG.debug("{} {}", status, this, failure);
        cancelTimeout();
        cancelStream();
        worker.onExchangeComplete(this);
        writeErrorOrAbort(status, message, failure);
    }

    private void writeErrorOrAbort(int status, String message, Throwable failure)
    {
        if (response.isCommitted())
        {
            callback.failed(failure);
            return;
        }
        // The worker's status and headers (a Content-Length among them) may already be set: drop them.
        response.reset();
        Response.writeError(request, response, callback, status, message);
    }

    private void cancelStream()
    {
        Stream stream = this.stream;
        if (stream != null && !stream.isClosed())
            stream.reset(new ResetFrame(stream.getId(), ErrorCode.CANCEL_STREAM_ERROR.code), Callback.NOOP);
    }

    @Override
    public String toString()
    {
        Stream stream = this.stream;
        return "%s@%x[#%s %s %s]".formatted(getClass().getSimpleName(), hashCode(), stream == null ? "-" : stream.getId(), request.getMethod(), request.getHttpURI());
    }
}
