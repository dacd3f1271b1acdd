package org.jettyitk.internal.posix;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.function.Function;
import java.util.stream.IntStream;

import jnr.posix.POSIX;
import jnr.posix.POSIXFactory;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

public class DescriptorChannelTest
{
    private static final int SMALL_PIPE = 4096;

    @Test
    public void testGatheredBuffersArriveInOrderFromTheirPositions() throws Exception
    {
        POSIX libc = POSIXFactory.getNativePOSIX();
        int[] ends = new int[2];
        assertEquals(0, libc.pipe(ends));
        try (DescriptorChannel channel = new DescriptorChannel(Posix.get(), ends[1]))
        {
            ByteBuffer heap = ByteBuffer.wrap("skipHEAD|".getBytes(StandardCharsets.US_ASCII));
            heap.position(4);
            ByteBuffer direct = ByteBuffer.allocateDirect(16);
            direct.put("..frame|".getBytes(StandardCharsets.US_ASCII)).flip().position(2);
            ByteBuffer empty = ByteBuffer.allocate(0);
            ByteBuffer tail = ByteBuffer.wrap("tail".getBytes(StandardCharsets.US_ASCII));
            ByteBuffer[] sources = {ByteBuffer.allocate(3), heap, empty, direct, tail};
            sources[0].position(3);

            assertEquals(5 + 6 + 4, channel.write(sources, 1, 4));

            for (ByteBuffer source : sources)
            {
                assertEquals(0, source.remaining());
            }
            assertEquals("HEAD|frame|tail", new String(read(libc, ends[0], 15), StandardCharsets.US_ASCII));
        }
        finally
        {
            libc.close(ends[0]);
        }
    }

    @Test
    public void testGatheringPastItsSizeWritesEverythingOnABlockingPipe() throws Exception
    {
        byte[] expected = new byte[3 * DescriptorChannel.GATHER_SIZE + 17];
        new Random(7).nextBytes(expected);
        ByteBuffer[] sources = new ByteBuffer[expected.length / 1000 + 1];
        for (int i = 0; i < sources.length; i++)
        {
            int from = i * 1000;
            sources[i] = ByteBuffer.wrap(expected, from, Math.min(1000, expected.length - from));
        }
        assertBlockingWriteDelivers(expected, sources);
    }

    @Test
    public void testShortWriteOfAFullNonBlockingPipeMovesPositionsByWhatItTook() throws Exception
    {
        assertShortWritesDeliver(3000, 11, expected -> new ByteBuffer[]{
            ByteBuffer.wrap(expected, 0, 1000),
            ByteBuffer.wrap(expected, 1000, expected.length - 1000)});
    }

    @Test
    public void testDirectBuffersGoInWritevsFromTheirPositionsPastTheIovecLimit() throws Exception
    {
        byte[] expected = new byte[3 * DescriptorChannel.MAX_IOVECS * 1000 + 17];
        new Random(13).nextBytes(expected);
        // Direct buffers with a skipped prefix each, and empty heap buffers among them.
        int pieces = expected.length / 1000 + 1;
        ByteBuffer[] sources = new ByteBuffer[2 * pieces];
        for (int i = 0; i < pieces; i++)
        {
            int from = i * 1000;
            int length = Math.min(1000, expected.length - from);
            ByteBuffer direct = ByteBuffer.allocateDirect(length + 5);
            direct.put(new byte[5]).put(expected, from, length).flip().position(5);
            sources[2 * i] = direct;
            sources[2 * i + 1] = ByteBuffer.allocate(0);
        }
        assertBlockingWriteDelivers(expected, sources);
        for (ByteBuffer source : sources)
        {
            assertEquals(0, source.remaining());
        }
    }

    @Test
    public void testHeapBuffersAmongDirectOnesArriveInOrderWhateverTheirSize() throws Exception
    {
        // As an HTTP/2 flush: a small heap header before each direct payload; and heap pieces larger than the
        // staging buffer, one of them read-only, between direct ones.
        int[] heapSizes = {9, 9, DescriptorChannel.GATHER_SIZE + 4321, 9, 2 * DescriptorChannel.GATHER_SIZE + 1, 0, 9};
        int payload = 32 * 1024;
        byte[] expected = new byte[IntStream.of(heapSizes).sum() + heapSizes.length * payload];
        new Random(19).nextBytes(expected);
        ByteBuffer[] sources = new ByteBuffer[2 * heapSizes.length];
        int from = 0;
        for (int i = 0; i < heapSizes.length; i++)
        {
            ByteBuffer heap = ByteBuffer.wrap(Arrays.copyOfRange(expected, from, from + heapSizes[i]));
            sources[2 * i] = i == 2 ? heap.asReadOnlyBuffer() : heap;
            from += heapSizes[i];
            sources[2 * i + 1] = ByteBuffer.allocateDirect(payload).put(expected, from, payload).flip();
            from += payload;
        }
        assertBlockingWriteDelivers(expected, sources);
        for (ByteBuffer source : sources)
        {
            assertEquals(0, source.remaining());
        }
    }

    @Test
    public void testShortWriteOfHeapAndDirectBuffersMovesPositionsByWhatItTook() throws Exception
    {
        assertShortWritesDeliver(3009, 23, expected -> new ByteBuffer[]{
            ByteBuffer.wrap(expected, 0, 9).slice(),
            ByteBuffer.allocateDirect(1000).put(expected, 9, 1000).flip(),
            ByteBuffer.wrap(expected, 1009, expected.length - 1009).slice()});
    }

    @Test
    public void testShortWritevOfAFullNonBlockingPipeMovesPositionsByWhatItTook() throws Exception
    {
        assertShortWritesDeliver(3000, 17, expected -> new ByteBuffer[]{
            ByteBuffer.allocateDirect(1000).put(expected, 0, 1000).flip(),
            ByteBuffer.allocateDirect(expected.length - 1000).put(expected, 1000, expected.length - 1000).flip()});
    }

    /**
     * Writes to a non-blocking pipe of {@link #SMALL_PIPE} bytes the sources that {@code split} makes of
     * {@code capacity + extra} random bytes, the pipe's capacity ending inside the last of them: the first write
     * takes what fits and moves the positions by that alone, a write to the full pipe takes nothing and moves
     * nothing, and once the pipe is read the rest follows.
     */
    private static void assertShortWritesDeliver(int extra, long seed, Function<byte[], ByteBuffer[]> split) throws Exception
    {
        Posix posix = Posix.get();
        POSIX libc = POSIXFactory.getNativePOSIX();
        int[] ends = new int[2];
        assertEquals(0, libc.pipe(ends));
        try (DescriptorChannel channel = DescriptorChannel.openNonBlockingPipe(Path.of("/proc/self/fd/" + ends[1])))
        {
            int capacity = posix.setPipeCapacity(ends[1], SMALL_PIPE);
            byte[] expected = new byte[capacity + extra];
            new Random(seed).nextBytes(expected);
            ByteBuffer[] sources = split.apply(expected);
            ByteBuffer last = sources[sources.length - 1];

            long written = channel.write(sources);

            assertEquals(capacity, written);
            for (int i = 0; i < sources.length - 1; i++)
            {
                assertEquals(0, sources[i].remaining(), "source " + i);
            }
            assertEquals(expected.length - capacity, last.remaining());
            // Full: nothing taken, nothing moved.
            assertEquals(0, channel.write(sources));
            assertEquals(expected.length - capacity, last.remaining());
            assertArrayEquals(Arrays.copyOf(expected, capacity), read(libc, ends[0], capacity));
            assertEquals(expected.length - capacity, channel.write(sources));
            assertArrayEquals(Arrays.copyOfRange(expected, capacity, expected.length), read(libc, ends[0], expected.length - capacity));
        }
        finally
        {
            libc.close(ends[0]);
            libc.close(ends[1]);
        }
    }

    /**
     * Writes the sources with one call on a blocking pipe that a thread reads meanwhile, and checks what arrived.
     */
    private static void assertBlockingWriteDelivers(byte[] expected, ByteBuffer[] sources) throws Exception
    {
        POSIX libc = POSIXFactory.getNativePOSIX();
        int[] ends = new int[2];
        assertEquals(0, libc.pipe(ends));
        ByteArrayOutputStream received = new ByteArrayOutputStream();
        Thread reader = new Thread(() -> received.writeBytes(read(libc, ends[0], expected.length)));
        reader.start();
        try (DescriptorChannel channel = new DescriptorChannel(Posix.get(), ends[1]))
        {
            assertEquals(expected.length, channel.write(sources));
        }
        reader.join(30_000);
        libc.close(ends[0]);
        assertArrayEquals(expected, received.toByteArray());
    }

    private static byte[] read(POSIX libc, int fd, int length)
    {
        byte[] bytes = new byte[length];
        ByteBuffer buffer = ByteBuffer.wrap(bytes);
        while (buffer.hasRemaining())
        {
            int read = libc.read(fd, buffer, buffer.remaining());
            if (read <= 0)
                break;
            buffer.position(buffer.position() + read);
        }
        return buffer.hasRemaining() ? Arrays.copyOf(bytes, buffer.position()) : bytes;
    }
}
