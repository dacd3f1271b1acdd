package org.jettyitk.internal.posix;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.GatheringByteChannel;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * <p>The write end of a pipe, on a non-blocking description of its own: a write takes what the pipe has room for
 * now and never waits for the reader. It is not interruptible (unlike {@link java.nio.channels.FileChannel}, an
 * interrupted writer does not close it).</p>
 * <p>The front opens its own end of a worker's stdin pipe this way ({@code /proc/self/fd/N}) next to its
 * blocking stream: a worker that stops reading, or shrinks its pipe, can make a write short but never make a
 * thread of the front wait.</p>
 */
public final class NonBlockingPipeChannel implements GatheringByteChannel
{
    private final Posix posix;
    private final int fd;
    private final AtomicBoolean open = new AtomicBoolean(true);

    private NonBlockingPipeChannel(Posix posix, int fd)
    {
        this.posix = posix;
        this.fd = fd;
    }

    /**
     * @param path a path that opens a pipe, such as {@code /proc/self/fd/N}
     * @throws IOException if it cannot be opened or is no pipe
     */
    public static NonBlockingPipeChannel open(Path path) throws IOException
    {
        Posix posix = Posix.get();
        return new NonBlockingPipeChannel(posix, posix.openPipeNonBlockingForWrite(path));
    }

    @Override
    public long write(ByteBuffer[] sources, int offset, int length) throws IOException
    {
        if (!isOpen())
            throw new ClosedChannelException();
        long written = 0;
        for (int i = offset; i < offset + length; i++)
        {
            ByteBuffer source = sources[i];
            if (!source.hasRemaining())
                continue;
            written += posix.writeNonBlocking(fd, source);
            // The pipe is full: the rest waits for the next call.
            if (source.hasRemaining())
                break;
        }
        return written;
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
        return "%s@%x[fd=%d,open=%b]".formatted(getClass().getSimpleName(), hashCode(), fd, isOpen());
    }
}
