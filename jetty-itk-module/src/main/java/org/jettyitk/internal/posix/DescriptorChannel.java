package org.jettyitk.internal.posix;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.GatheringByteChannel;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * <p>A descriptor written with libc's {@code write} through jnr-posix, with no {@link java.io.FileDescriptor}. It is
 * not interruptible (unlike {@link java.nio.channels.FileChannel}, an interrupted writer does not close it).</p>
 * <ul>
 *   <li>Blocking: the worker's protocol output. Java gives a FileDescriptor only for fds 0, 1 and 2, or through
 *   reflection into {@code java.io}, which would need {@code --add-opens java.base/java.io} for every class the
 *   worker loads, the tenant's included. Reopening {@code /proc/self/fd/N} is no way either: the pipe was created
 *   by the front, as root, with mode 0600, and the worker runs as its tenant. A write blocks until the pipe has
 *   taken something, and returns 0 only for an empty buffer.</li>
 *   <li>Non-blocking ({@link #openNonBlockingPipe(Path)}): the front's own end of a worker's stdin pipe, opened
 *   again as a description of its own ({@code /proc/self/fd/N}) next to its blocking stream. A write takes what the
 *   pipe has room for now: a worker that stops reading, or shrinks its pipe, can make a write short but never make
 *   a thread of the front wait.</li>
 * </ul>
 */
public final class DescriptorChannel implements GatheringByteChannel
{
    /** The most bytes of heap buffers staged (copied into a direct buffer) for one {@code writev}. */
    public static final int GATHER_SIZE = 128 * 1024;
    private static final int MIN_GATHER_SIZE = 8 * 1024;
    /** The most buffers in one {@code writev}, far below Linux's {@code IOV_MAX} (1024). */
    static final int MAX_IOVECS = 64;
    private static final int IOVEC_SIZE = 16;
    private final Posix posix;
    private final int fd;
    private final boolean blocking;
    private final AtomicBoolean open = new AtomicBoolean(true);
    private ByteBuffer staging;
    private ByteBuffer iovecs;
    /** The buffers of one writev: the sources, or their staged copies. */
    private ByteBuffer[] parts;
    /** Which sources of one writev go as they are (direct or empty), each looked at once. */
    private boolean[] asIs;

    /**
     * @param fd a descriptor in blocking mode this channel owns from now on: {@link #close()} closes it
     */
    public DescriptorChannel(Posix posix, int fd)
    {
        this(posix, fd, true);
    }

    private DescriptorChannel(Posix posix, int fd, boolean blocking)
    {
        this.posix = posix;
        this.fd = fd;
        this.blocking = blocking;
    }

    /**
     * @param path a path that opens a pipe, such as {@code /proc/self/fd/N}
     * @return the pipe's write end, on a non-blocking description of its own
     * @throws IOException if it cannot be opened or is no pipe
     */
    public static DescriptorChannel openNonBlockingPipe(Path path) throws IOException
    {
        Posix posix = Posix.get();
        return new DescriptorChannel(posix, posix.openPipeNonBlockingForWrite(path), false);
    }

    /**
     * <p>Writes are serialized, as {@link java.nio.channels.FileChannel}'s are, which this channel replaced: a pipe
     * takes a write of more than {@code PIPE_BUF} bytes in pieces, and two threads writing at once would interleave
     * their frames' bytes.</p>
     * <p>Several buffers go in one system call, as FileChannel's {@code writev} sent them: an HTTP/2 flush is a frame
     * header, its payload, the next header and so on, and a write per buffer would wake the reader at the other end
     * once per buffer. Up to {@link #MAX_IOVECS} buffers go in one {@code writev}: direct buffers (Jetty's pooled
     * buffers are, by default) from their own memory, others copied first into a direct buffer of this channel of
     * at most {@link #GATHER_SIZE} bytes.</p>
     */
    @Override
    public synchronized long write(ByteBuffer[] sources, int offset, int length) throws IOException
    {
        if (!isOpen())
            throw new ClosedChannelException();
        long written = 0;
        int next = offset;
        int end = offset + length;
        while (true)
        {
            while (next < end && !sources[next].hasRemaining())
            {
                next++;
            }
            if (next == end)
                return written;
            // One writev of up to MAX_IOVECS buffers: a direct buffer from its own memory, any other copied into
            // the staging buffer first, as the JDK's FileChannel does. A small heap buffer among direct ones (a
            // frame header before its payload) then costs a copy of itself alone, never of its neighbours.
            int count = Math.min(end - next, MAX_IOVECS);
            boolean[] asIs = asIs();
            long heapBytes = 0;
            for (int i = 0; i < count; i++)
            {
                ByteBuffer source = sources[next + i];
                asIs[i] = !source.hasRemaining() || Posix.isAddressable(source);
                if (!asIs[i])
                    heapBytes += source.remaining();
            }
            ByteBuffer stage = heapBytes == 0 ? null : stagingBuffer((int)Math.min(heapBytes, GATHER_SIZE));
            ByteBuffer[] parts = parts();
            int used = 0;
            long offered = 0;
            while (used < count)
            {
                ByteBuffer source = sources[next + used];
                if (asIs[used])
                {
                    offered += source.remaining();
                    parts[used++] = source;
                    continue;
                }
                int at = stage.position();
                int bytes = Math.min(stage.remaining(), source.remaining());
                if (bytes == 0)
                    break;
                stage.put(at, source, source.position(), bytes);
                stage.position(at + bytes);
                offered += bytes;
                parts[used++] = stage.slice(at, bytes);
                // A buffer staged in part ends this writev: what follows must wait for the rest of it.
                if (bytes < source.remaining())
                    break;
            }
            long wrote = posix.writev(fd, iovecs(), parts, 0, used, blocking);
            Arrays.fill(parts, 0, used, null);
            written += wrote;
            // The sources give up what the pipe took, in order.
            Posix.consume(sources, next, next + used, wrote);
            // A short write (the pipe took what it had room for): the rest waits for the next call.
            if (wrote < offered)
                return written;
        }
    }

    private ByteBuffer[] parts()
    {
        if (parts == null)
            parts = new ByteBuffer[MAX_IOVECS];
        return parts;
    }

    private boolean[] asIs()
    {
        if (asIs == null)
            asIs = new boolean[MAX_IOVECS];
        return asIs;
    }

    private ByteBuffer iovecs()
    {
        if (iovecs == null)
            iovecs = ByteBuffer.allocateDirect(MAX_IOVECS * IOVEC_SIZE).order(ByteOrder.nativeOrder());
        return iovecs;
    }

    /**
     * @return the staging buffer, cleared, with room for {@code size} bytes: it grows with the most heap bytes of
     * one flush seen, up to {@link #GATHER_SIZE}, so that a channel that writes small requests keeps a small one
     */
    private ByteBuffer stagingBuffer(int size)
    {
        if (staging == null || staging.capacity() < size)
            staging = ByteBuffer.allocateDirect(Math.min(GATHER_SIZE, Math.max(size, Math.max(MIN_GATHER_SIZE, staging == null ? 0 : staging.capacity() * 2))));
        staging.clear();
        return staging;
    }

    @Override
    public long write(ByteBuffer[] sources) throws IOException
    {
        return write(sources, 0, sources.length);
    }

    @Override
    public int write(ByteBuffer source) throws IOException
    {
        return (int)write(new ByteBuffer[]{source});
    }

    @Override
    public boolean isOpen()
    {
        return open.get();
    }

    @Override
    public void close() throws IOException
    {
        if (open.compareAndSet(true, false))
            posix.close(fd);
    }

    @Override
    public String toString()
    {
        return "%s@%x[fd=%d,blocking=%b,open=%b]".formatted(getClass().getSimpleName(), hashCode(), fd, blocking, isOpen());
    }
}
