package org.jettyitk.internal.front;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;

import org.jettyitk.internal.pipe.Http2Frames;
import org.jettyitk.tests.ItkTestServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.jettyitk.internal.pipe.Http2Frames.DATA;
import static org.jettyitk.internal.pipe.Http2Frames.FLAG_END_STREAM;
import static org.jettyitk.internal.pipe.Http2Frames.HEADERS;
import static org.jettyitk.internal.pipe.Http2Frames.WINDOW_UPDATE;
import static org.jettyitk.internal.pipe.Http2Frames.frame;
import static org.jettyitk.internal.pipe.Http2Frames.headers;
import static org.jettyitk.internal.pipe.Http2Frames.settings;
import static org.jettyitk.internal.pipe.Http2Frames.status;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * <p>Request content the client has already sent reaches the worker gathered into few DATA frames
 * ({@link FrontExchange#REQUEST_GATHER_SIZE}), byte for byte, and trailers read while gathering still follow the
 * content. The worker is scripted, so the test sees the frames themselves.</p>
 */
public class RequestGatheringTest
{
    private static final String VHOST = "gather";
    private static final int PIECES = 2000;
    private static final int PIECE_SIZE = 64;

    private final FakeWorkerLauncher launcher = new FakeWorkerLauncher();
    private final CompletableFuture<List<Http2Frames.Frame>> frames = new CompletableFuture<>();
    private ItkTestServer front;

    @BeforeEach
    public void init()
    {
        Assumptions.assumeTrue(ItkTestServer.isRoot(), "ItkHandler.start() chowns each vhost's work directory to its uid: needs root");
    }

    @AfterEach
    public void dispose() throws Exception
    {
        if (front != null)
            front.close();
        launcher.killAll();
    }

    @Test
    public void testContentSentAtOnceGoesInFewFrames() throws Exception
    {
        byte[] body = randomLetters(PIECES * PIECE_SIZE);
        start(body.length, false);

        ItkTestServer.RawResponse response = front.raw(chunkedPost(body, ""));

        assertEquals(200, response.status());
        List<Http2Frames.Frame> data = frames.get(10, SECONDS);
        assertArrayEquals(body, payload(data));
        // One frame per piece without gathering. With it, a 64 KiB frame holds 1024 pieces; at worst a frame ends
        // with each read of the client's connection, whose buffer holds a hundred pieces.
        assertTrue(data.size() < PIECES / 10, () -> data.size() + " DATA frames for " + PIECES + " pieces the client sent at once");
    }

    @Test
    public void testTrailersReadWhileGatheringFollowTheContent() throws Exception
    {
        byte[] body = randomLetters(10 * PIECE_SIZE);
        start(body.length, true);

        ItkTestServer.RawResponse response = front.raw(chunkedPost(body, "X-Check: ok\r\n"));

        assertEquals(200, response.status());
        List<Http2Frames.Frame> received = frames.get(10, SECONDS);
        Http2Frames.Frame trailers = received.get(received.size() - 1);
        assertEquals(HEADERS, trailers.type());
        assertTrue(trailers.hasFlag(FLAG_END_STREAM), trailers::toString);
        assertArrayEquals(body, payload(received.subList(0, received.size() - 1)));
    }

    /**
     * Starts a front whose worker opens its windows, records the request's DATA frames (and its trailers, when
     * expected) and answers 200.
     */
    private void start(int contentLength, boolean trailers) throws Exception
    {
        launcher.serve(VHOST, () -> new ScriptedWorker(VHOST, worker ->
        {
            worker.write(settings());
            int stream = worker.awaitRequest();
            // The default windows are 64 KiB.
            worker.write(windowUpdate(0, 1 << 20));
            worker.write(windowUpdate(stream, 1 << 20));
            List<Http2Frames.Frame> received = new ArrayList<>();
            int length = 0;
            while (length < contentLength)
            {
                Http2Frames.Frame frame = worker.await(DATA);
                received.add(frame);
                length += frame.payload().length;
            }
            if (trailers)
                received.add(worker.await(HEADERS));
            else if (!received.get(received.size() - 1).hasFlag(FLAG_END_STREAM))
                received.add(worker.await(DATA));
            frames.complete(received);
            worker.write(headers(stream, status("200"), true));
            worker.awaitExit();
        }));
        front = new ItkTestServer();
        front.itk.setWorkerLauncher(launcher);
        // The scripted worker stands in for the test app; no process runs as the id.
        front.addTestApp(VHOST, 42301);
        front.start();
    }

    /**
     * @return a chunked POST whose body is written in pieces of {@link #PIECE_SIZE} bytes, all in one write
     */
    private static String chunkedPost(byte[] body, String trailers)
    {
        StringBuilder request = new StringBuilder("POST /upload HTTP/1.1\r\nHost: " + VHOST + ".test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
        for (int offset = 0; offset < body.length; offset += PIECE_SIZE)
        {
            int length = Math.min(PIECE_SIZE, body.length - offset);
            request.append(Integer.toHexString(length)).append("\r\n")
                .append(new String(body, offset, length, StandardCharsets.US_ASCII)).append("\r\n");
        }
        return request.append("0\r\n").append(trailers).append("\r\n").toString();
    }

    private static byte[] payload(List<Http2Frames.Frame> frames)
    {
        ByteArrayOutputStream payload = new ByteArrayOutputStream();
        frames.forEach(frame -> payload.writeBytes(frame.payload()));
        return payload.toByteArray();
    }

    private static byte[] windowUpdate(int streamId, int increment)
    {
        return frame(WINDOW_UPDATE, 0, streamId, ByteBuffer.allocate(4).putInt(increment).array());
    }

    private static byte[] randomLetters(int length)
    {
        Random random = new Random(length);
        byte[] letters = new byte[length];
        for (int i = 0; i < length; i++)
        {
            letters[i] = (byte)('a' + random.nextInt(26));
        }
        return letters;
    }
}
