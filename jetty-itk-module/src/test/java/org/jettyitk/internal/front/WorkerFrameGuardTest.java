package org.jettyitk.internal.front;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;

import org.jettyitk.internal.pipe.Http2Frames;
import org.junit.jupiter.api.Test;

import static org.jettyitk.internal.pipe.Http2Frames.concat;
import static org.jettyitk.internal.pipe.Http2Frames.data;
import static org.jettyitk.internal.pipe.Http2Frames.frame;
import static org.jettyitk.internal.pipe.Http2Frames.headers;
import static org.jettyitk.internal.pipe.Http2Frames.ping;
import static org.jettyitk.internal.pipe.Http2Frames.rstStream;
import static org.jettyitk.internal.pipe.Http2Frames.settings;
import static org.jettyitk.internal.pipe.Http2Frames.settingsAck;
import static org.jettyitk.internal.pipe.Http2Frames.status;
import static org.jettyitk.internal.pipe.Http2Frames.windowUpdate;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * <p>{@link WorkerFrameGuard} alone, on hand-written frames: one rule per test, then the same input split at every
 * byte, then a seeded mutation loop whose every input ends in a clean pass or a violation, never an exception or a
 * hang, whatever the split. Run again with {@code -Ditk.seed=<seed>} to replay a failure.</p>
 */
public class WorkerFrameGuardTest
{
    private static final int MUTATIONS = 2000;
    private static final long SECOND = 1_000_000_000L;

    /**
     * What a healthy worker writes: its preface, then a response on stream 1 (open), then a late WINDOW_UPDATE.
     */
    private static byte[] healthy()
    {
        return concat(
            settings(Http2Frames.SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20),
            windowUpdate(0, 1 << 24),
            settingsAck(),
            headers(1, concat(status("200"), Http2Frames.literal("content-type", "text/plain")), false),
            data(1, new byte[300], false),
            data(1, new byte[0], true),
            frame(Http2Frames.PING, Http2Frames.FLAG_ACK, 0, new byte[8]),
            frame(Http2Frames.GOAWAY, 0, 0, new byte[8]));
    }

    @Test
    public void testHealthyOutputPasses()
    {
        Run run = new Run(new FakeSession(1, 1), 100, 100).feed(healthy());
        assertNull(run.violation);
        assertEquals(8, run.guard.getFrames());
    }

    @Test
    public void testHealthyOutputSplitAtEveryByte()
    {
        byte[] bytes = healthy();
        Outcome whole = new Run(new FakeSession(1, 1), 100, 100).feed(bytes).outcome();
        for (int split = 0; split <= bytes.length; split++)
        {
            Outcome outcome = new Run(new FakeSession(1, 1), 100, 100).feed(bytes, split).outcome();
            assertEquals(whole, outcome, "split at " + split);
        }
        assertEquals(whole, new Run(new FakeSession(1, 1), 100, 100).feedByteByByte(bytes).outcome(), "byte by byte");
    }

    @Test
    public void testFloodSplitAtEveryByteGivesTheSameViolation()
    {
        byte[] bytes = concat(settings(), settings(), settings(), ping(1), settings());
        String expected = "flood: more than 4 wasted frames in one second, the last SETTINGS";
        for (int split = 0; split <= bytes.length; split++)
        {
            Run run = new Run(new FakeSession(0, 0), 4, 100).feed(bytes, split);
            assertEquals(expected, run.violation, "split at " + split);
            assertEquals(1, run.violations, "split at " + split);
        }
    }

    @Test
    public void failsWhenFrameTypeIsUnknown()
    {
        Run run = new Run(new FakeSession(1, 1), 100, 100).feed(concat(settings(), frame(0x0a, 0, 1, new byte[3])));
        assertEquals("unknown frame type 0xa on stream 1", run.violation);
    }

    @Test
    public void failsWhenStreamWasNeverOpened()
    {
        Run run = new Run(new FakeSession(3, 3), 100, 100).feed(data(5, new byte[1], true));
        assertEquals("DATA on stream 5 the front never opened", run.violation);
    }

    @Test
    public void testEachWastedFrameCounts()
    {
        // Stream 1 is closed (opened, no longer open); stream 3 is open.
        FakeSession session = new FakeSession(3, 3);
        List<byte[]> wasted = List.of(
            settings(),
            settingsAck(),
            ping(7),
            frame(Http2Frames.PING, Http2Frames.FLAG_ACK, 0, new byte[8]),
            frame(Http2Frames.PRIORITY, 0, 3, new byte[5]),
            frame(Http2Frames.GOAWAY, 0, 0, new byte[8]),
            data(1, new byte[10], false),
            headers(1, status("200"), true),
            frame(Http2Frames.CONTINUATION, Http2Frames.FLAG_END_HEADERS, 1, new byte[2]),
            rstStream(1, 8),
            windowUpdate(1, 1),
            data(3, new byte[0], false),
            frame(Http2Frames.HEADERS, 0, 3, new byte[0]),
            frame(Http2Frames.CONTINUATION, 0, 3, new byte[0]));
        for (byte[] frame : wasted)
        {
            Run run = new Run(session, 1, 100).feed(concat(frame, frame));
            assertTrue(run.violation != null && run.violation.startsWith("flood: more than 1 wasted frames"), "not counted: frame type " + frame[3] + " on stream " + frame[8] + ": " + run.violation);
        }
    }

    @Test
    public void testFramesThatMakeProgressAreFree()
    {
        FakeSession session = new FakeSession(3, 3);
        Run run = new Run(session, 1, 100);
        for (int i = 0; i < 100; i++)
        {
            run.feed(concat(headers(3, status("200"), false), data(3, new byte[1], false), data(3, new byte[0], true), rstStream(3, 8)));
        }
        assertNull(run.violation);
    }

    @Test
    public void testWindowUpdateIsFreeOnlyAfterTheFrontSentBytes()
    {
        FakeSession session = new FakeSession(1, 1);
        Run run = new Run(session, 2, 100);
        for (int i = 0; i < 100; i++)
        {
            session.bytesSent += 100;
            run.feed(windowUpdate(0, 100));
            run.feed(windowUpdate(1, 100));
        }
        // One of each pair is free: 100 wasted, over a budget of 2.
        assertEquals("flood: more than 2 wasted frames in one second, the last WINDOW_UPDATE on stream 1 with nothing sent since the last", run.violation);

        Run credited = new Run(new FakeSession(1, 1), 2, 100);
        for (int i = 0; i < 100; i++)
        {
            credited.session.bytesSent += 100;
            credited.feed(windowUpdate(0, 100));
        }
        assertNull(credited.violation);

        // 64 KiB of request content earns both updates a worker sends for it, stream and connection.
        Run upload = new Run(new FakeSession(1, 1), 1, 100);
        for (int i = 0; i < 100; i++)
        {
            upload.session.bytesSent += 64 * 1024;
            upload.feed(concat(windowUpdate(1, 64 * 1024), windowUpdate(0, 64 * 1024)));
        }
        assertNull(upload.violation);
    }

    @Test
    public void testWindowUpdateCreditIsBounded()
    {
        // A gigabyte sent earns no flood: the bank holds MAX_WINDOW_UPDATE_CREDIT.
        FakeSession session = new FakeSession(1, 1);
        session.bytesSent = 1L << 30;
        Run run = new Run(session, 1, 100);
        for (int i = 0; i < WorkerFrameGuard.MAX_WINDOW_UPDATE_CREDIT + 1; i++)
        {
            run.feed(windowUpdate(0, 1));
        }
        assertNull(run.violation);
        run.feed(windowUpdate(0, 1));
        assertEquals("flood: more than 1 wasted frames in one second, the last WINDOW_UPDATE on stream 0 with nothing sent since the last", run.violation);
    }

    @Test
    public void testBudgetIsPerSecond()
    {
        Run run = new Run(new FakeSession(0, 0), 3, 100);
        for (int second = 0; second < 10; second++)
        {
            run.feed(concat(settings(), settings(), settings()));
            run.now += SECOND;
        }
        assertNull(run.violation);
        run.feed(concat(settings(), settings(), settings(), settings()));
        assertEquals("flood: more than 3 wasted frames in one second, the last SETTINGS", run.violation);
    }

    @Test
    public void testFloodOfManyChunksStopsAtTheBudget()
    {
        Run run = new Run(new FakeSession(0, 0), WorkerFrameGuard.DEFAULT_MAX_WASTED_FRAMES_PER_SECOND, WorkerFrameGuard.DEFAULT_MAX_QUEUED_FRAMES);
        byte[] burst = concat(settings(), settings(), settings(), settings(), settings());
        int bursts = 0;
        while (run.violation == null && bursts < 1_000_000)
        {
            run.feed(burst);
            bursts++;
        }
        assertEquals(WorkerFrameGuard.DEFAULT_MAX_WASTED_FRAMES_PER_SECOND / 5 + 1, bursts);
        assertFalse(run.guard.getFrames() > WorkerFrameGuard.DEFAULT_MAX_WASTED_FRAMES_PER_SECOND + 1, "frames inspected after the violation");
    }

    @Test
    public void failsWhenAnswersQueueTowardAWorkerThatDoesNotRead()
    {
        FakeSession session = new FakeSession(0, 0);
        Run run = new Run(session, 1000, 10);
        session.queuedFrames = 9;
        run.feed(settings());
        assertNull(run.violation);
        session.queuedFrames = 10;
        run.feed(settings());
        assertEquals("not reading: 11 frames queued toward the worker > max 10 at SETTINGS", run.violation);
    }

    @Test
    public void failsWhenOneChunkHoldsMoreAnswersThanTheBound()
    {
        ByteArrayOutputStream chunk = new ByteArrayOutputStream();
        for (int i = 0; i < 11; i++)
        {
            chunk.writeBytes(ping(i));
        }
        Run run = new Run(new FakeSession(0, 0), 1000, 10).feed(chunk.toByteArray());
        assertEquals("not reading: 11 frames queued toward the worker > max 10 at PING", run.violation);
    }

    @Test
    public void testViolationLatches()
    {
        Run run = new Run(new FakeSession(0, 0), 1, 100).feed(concat(settings(), settings()));
        run.feed(frame(0x42, 0, 0, new byte[0]));
        run.feed(data(99, new byte[1], false));
        assertEquals(1, run.violations);
        assertTrue(run.guard.isLatched());
    }

    @Test
    public void failsWhenLimitsAreNotPositive()
    {
        FakeSession session = new FakeSession(0, 0);
        IllegalArgumentException rate = assertThrows(IllegalArgumentException.class, () -> new WorkerFrameGuard(session, 0, 1, message -> {}));
        assertEquals("maxWastedFramesPerSecond < 1: 0", rate.getMessage());
        IllegalArgumentException queued = assertThrows(IllegalArgumentException.class, () -> new WorkerFrameGuard(session, 1, -1, message -> {}));
        assertEquals("maxQueuedFrames < 1: -1", queued.getMessage());
    }

    @Test
    public void testMutatedOutputEndsInPassOrViolationWhateverTheSplit()
    {
        long seed = Long.getLong("itk.seed", new Random().nextLong());
        System.out.println("WorkerFrameGuardTest mutation seed=" + seed);
        Random random = new Random(seed);
        byte[] original = concat(healthy(), healthy());
        Set<String> verdicts = new HashSet<>();
        assertTimeoutPreemptively(Duration.ofSeconds(60), () ->
        {
            for (int iteration = 0; iteration < MUTATIONS; iteration++)
            {
                byte[] mutated = mutate(original, random);
                String where = "seed=" + seed + " iteration=" + iteration;
                Outcome whole = new Run(new FakeSession(1, 1), 8, 1_000_000).feed(mutated).outcome();
                verdicts.add(whole.violation() == null ? "pass" : whole.violation().replaceAll("[0-9]+", "N"));
                int split = random.nextInt(mutated.length + 1);
                assertEquals(whole, new Run(new FakeSession(1, 1), 8, 1_000_000).feed(mutated, split).outcome(), where + " split at " + split);
                if (iteration % 10 == 0)
                    assertEquals(whole, new Run(new FakeSession(1, 1), 8, 1_000_000).feedByteByByte(mutated).outcome(), where + " byte by byte");
            }
        }, "seed=" + seed + ": hang");
        System.out.println("WorkerFrameGuardTest verdicts " + verdicts);
        assertTrue(verdicts.contains("pass") && verdicts.size() > 3, "seed=" + seed + ": mutations too mild: " + verdicts);
    }

    /**
     * Flips, overwrites, inserts or deletes a few bytes, or cuts the input short.
     */
    private static byte[] mutate(byte[] original, Random random)
    {
        List<Byte> bytes = new ArrayList<>(original.length);
        for (byte b : original)
        {
            bytes.add(b);
        }
        int mutations = 1 + random.nextInt(4);
        for (int i = 0; i < mutations && !bytes.isEmpty(); i++)
        {
            int at = random.nextInt(bytes.size());
            switch (random.nextInt(5))
            {
                case 0 -> bytes.set(at, (byte)(bytes.get(at) ^ (1 << random.nextInt(8))));
                case 1 -> bytes.set(at, (byte)random.nextInt(256));
                case 2 -> bytes.add(at, (byte)random.nextInt(256));
                case 3 -> bytes.remove(at);
                default -> bytes.subList(at, bytes.size()).clear();
            }
        }
        byte[] result = new byte[bytes.size()];
        for (int i = 0; i < result.length; i++)
        {
            result[i] = bytes.get(i);
        }
        return result;
    }

    private record Outcome(String violation, int violations, long frames)
    {
    }

    /**
     * One guard over a fake session, with a clock the test moves.
     */
    private static final class Run
    {
        private final FakeSession session;
        private final WorkerFrameGuard guard;
        private long now = 42 * SECOND;
        private String violation;
        private int violations;

        private Run(FakeSession session, int maxWastedFramesPerSecond, int maxQueuedFrames)
        {
            this.session = session;
            this.guard = new WorkerFrameGuard(session, maxWastedFramesPerSecond, maxQueuedFrames, () -> now, message ->
            {
                violations++;
                violation = message;
            });
        }

        private Run feed(byte[] bytes)
        {
            return feed(bytes, bytes.length);
        }

        /**
         * Feeds two chunks, split at {@code split}, each a slice of a larger buffer so that positions and limits
         * other than 0 and the capacity are used.
         */
        private Run feed(byte[] bytes, int split)
        {
            accept(bytes, 0, split);
            accept(bytes, split, bytes.length);
            return this;
        }

        private Run feedByteByByte(byte[] bytes)
        {
            for (int i = 0; i < bytes.length; i++)
            {
                accept(bytes, i, i + 1);
            }
            return this;
        }

        private void accept(byte[] bytes, int from, int to)
        {
            byte[] padded = new byte[bytes.length + 2];
            System.arraycopy(bytes, 0, padded, 1, bytes.length);
            ByteBuffer chunk = ByteBuffer.wrap(padded, 1 + from, to - from).asReadOnlyBuffer();
            int position = chunk.position();
            guard.accept(chunk);
            assertEquals(position, chunk.position(), "the guard moved the chunk's position");
        }

        private Outcome outcome()
        {
            return new Outcome(violation, violations, guard.getFrames());
        }
    }

    /**
     * A session whose odd streams up to {@code highest} were opened and of which {@code open} only is open.
     */
    private static final class FakeSession implements WorkerFrameGuard.Session
    {
        private final int highest;
        private final int open;
        private long bytesSent = 1;
        private int queuedFrames;

        private FakeSession(int highest, int open)
        {
            this.highest = highest;
            this.open = open;
        }

        @Override
        public int highestOpenedStream()
        {
            return highest;
        }

        @Override
        public boolean isOpen(int streamId)
        {
            return streamId == open;
        }

        @Override
        public long bytesSent()
        {
            return bytesSent;
        }

        @Override
        public int queuedFrames()
        {
            return queuedFrames;
        }
    }
}
