package org.jettyitk.internal.posix;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.GatheringByteChannel;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * <p>A descriptor in blocking mode, written with libc's {@code write} through jnr-posix: the worker's protocol
 * output, with no {@link java.io.FileDescriptor}. Java gives a FileDescriptor only for fds 0, 1 and 2, or through
 * reflection into {@code java.io}, which would need {@code --add-opens java.base/java.io} for every class the
 * worker loads, the tenant's included. Reopening {@code /proc/self/fd/N} is no way either: the pipe was created
 * by the front, as root, with mode 0600, and the worker runs as its tenant.</p>
 * <p>A write blocks until the pipe has taken something, and returns 0 only for an empty buffer. It is not
 * interruptible (unlike {@link java.nio.channels.FileChannel}, an interrupted writer does not close it).</p>
 */
public final class DescriptorChannel implements GatheringByteChannel
{
    private final Posix posix;
    private final int fd;
    private final AtomicBoolean open = new AtomicBoolean(true);

    /**
     * @param fd a descriptor this channel owns from now on: {@link #close()} closes it
     */
    public DescriptorChannel(Posix posix, int fd)
    {
        this.posix = posix;
        this.fd = fd;
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
            written += posix.write(fd, source);
            // A short write (the pipe took what it had room for): the rest waits for the next call.
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
