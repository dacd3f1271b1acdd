package org.jettyitk.internal.posix;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.GatheringByteChannel;
import java.nio.file.Path;
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
    /** The most bytes of several buffers gathered into one {@code write}. */
    public static final int GATHER_SIZE = 128 * 1024;
    private static final int MIN_GATHER_SIZE = 8 * 1024;
    /** The most buffers in one {@code writev}, far below Linux's {@code IOV_MAX} (1024). */
    static final int MAX_IOVECS = 64;
    private static final int IOVEC_SIZE = 16;
    private final Posix posix;
    private final int fd;
    private final boolean blocking;
    private final AtomicBoolean open = new AtomicBoolean(true);
    private ByteBuffer gather;
    private ByteBuffer iovecs;

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
     * once per buffer. Direct buffers (Jetty's pooled buffers are, by default) go in one {@code writev} of up to
     * {@link #MAX_IOVECS} buffers, from their own memory; others are gathered into a buffer of this channel of at
     * most {@link #GATHER_SIZE} bytes and written with one {@code write}.</p>
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
            ByteBuffer source = sources[next];
            int following = next + 1;
            while (following < end && !sources[following].hasRemaining())
            {
                following++;
            }
            // Direct buffers (Jetty's pooled ones, by default) go in one writev, from their own memory.
            int direct = following == end ? 1 : directRun(sources, next, end);
            if (direct > 1)
            {
                written += posix.writev(fd, iovecs(), sources, next, direct, blocking);
                int after = next + direct;
                while (next < after && !sources[next].hasRemaining())
                {
                    next++;
                }
                // A short write (the pipe took what it had room for): the rest waits for the next call.
                if (next < after)
                    return written;
                continue;
            }
            // One buffer alone, or one that fills the gathering buffer by itself, is written as it is.
            if (following == end || source.remaining() >= GATHER_SIZE)
            {
                written += writeOnce(source);
                // A short write (the pipe took what it had room for): the rest waits for the next call.
                if (source.hasRemaining())
                    return written;
                continue;
            }
            long total = 0;
            for (int i = next; i < end && total < GATHER_SIZE; i++)
            {
                total += sources[i].remaining();
            }
            ByteBuffer gather = gatherBuffer((int)Math.min(total, GATHER_SIZE));
            int last = next;
            for (int i = next; i < end && gather.hasRemaining(); i++)
            {
                ByteBuffer part = sources[i];
                int count = Math.min(part.remaining(), gather.remaining());
                gather.put(gather.position(), part, part.position(), count);
                gather.position(gather.position() + count);
                last = i;
            }
            gather.flip();
            int gathered = gather.remaining();
            int wrote = writeOnce(gather);
            written += wrote;
            // The sources give up what the pipe took, in order.
            Posix.consume(sources, next, last + 1, wrote);
            if (wrote < gathered)
                return written;
        }
    }

    /**
     * @return how many buffers from {@code from} on are direct or empty, at most {@link #MAX_IOVECS}
     */
    private static int directRun(ByteBuffer[] sources, int from, int end)
    {
        int count = 0;
        while (from + count < end && count < MAX_IOVECS && (!sources[from + count].hasRemaining() || Posix.isAddressable(sources[from + count])))
        {
            count++;
        }
        return count;
    }

    private ByteBuffer iovecs()
    {
        if (iovecs == null)
            iovecs = ByteBuffer.allocateDirect(MAX_IOVECS * IOVEC_SIZE).order(ByteOrder.nativeOrder());
        return iovecs;
    }

    private int writeOnce(ByteBuffer source) throws IOException
    {
        return blocking ? posix.write(fd, source) : posix.writeNonBlocking(fd, source);
    }

    /**
     * @return the gathering buffer, cleared, with room for {@code size} bytes: it grows with the largest flush
     * seen, up to {@link #GATHER_SIZE}, so that a channel that writes small requests keeps a small one
     */
    private ByteBuffer gatherBuffer(int size)
    {
        if (gather == null || gather.capacity() < size)
            gather = ByteBuffer.allocateDirect(Math.min(GATHER_SIZE, Math.max(size, Math.max(MIN_GATHER_SIZE, gather == null ? 0 : gather.capacity() * 2))));
        gather.clear();
        return gather;
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
