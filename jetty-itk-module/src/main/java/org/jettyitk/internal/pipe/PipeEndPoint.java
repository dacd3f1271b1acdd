package org.jettyitk.internal.pipe;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.function.Consumer;

import org.eclipse.jetty.io.AbstractEndPoint;
import org.eclipse.jetty.io.EofException;
import org.eclipse.jetty.util.BufferUtil;
import org.eclipse.jetty.util.thread.AutoLock;
import org.eclipse.jetty.util.thread.Scheduler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * <p>An {@link org.eclipse.jetty.io.EndPoint} over a pair of blocking pipe streams: the worker's
 * stdin/stdout on the worker side, {@link Process#getInputStream()} / {@link Process#getOutputStream()}
 * on the front side.</p>
 * <p>Pipes cannot be selected, so the EndPoint owns two threads:</p>
 * <ul>
 *   <li>a <em>reader</em> that blocks on the input stream, hands each chunk it read to {@link #fill(ByteBuffer)}
 *   and waits until that chunk is consumed before reading again (so at most one chunk is buffered: the
 *   pipe itself is the back-pressure);</li>
 *   <li>a <em>writer</em> that performs the blocking writes of a {@link #flush(ByteBuffer...)} and then
 *   completes the {@link org.eclipse.jetty.io.WriteFlusher}; so a peer that stops reading blocks only this
 *   thread, never a thread of the executor.</li>
 * </ul>
 * <p>Fill interest is always notified on the {@link Executor} given to the constructor, never on the reader
 * thread: running the connection there would let it block the thread that must read its next bytes.</p>
 * <pre>
 *   reader thread ──chunk──▶ [pending] ──fill()──▶ Connection (executor thread)
 *   Connection ──flush(buffers): copy──▶ [job] ──onIncompleteFlush()──▶ writer thread ──▶ OutputStream ──▶ completeWrite()
 * </pre>
 */
public class PipeEndPoint extends AbstractEndPoint
{
    private static final Logger LOG = LoggerFactory.getLogger(PipeEndPoint.class);
    /** Size of the chunk the reader thread reads at once; the Linux pipe buffer is 64 KiB. */
    public static final int READ_CHUNK_SIZE = 64 * 1024;

    private final AutoLock.WithCondition readLock = new AutoLock.WithCondition();
    private final AutoLock.WithCondition writeLock = new AutoLock.WithCondition();
    private final InputStream input;
    private final OutputStream output;
    private final Executor executor;
    private final SocketAddress localAddress;
    private final SocketAddress remoteAddress;
    private final String name;
    private final byte[] readChunk = new byte[READ_CHUNK_SIZE];
    private ByteBuffer pending;
    private boolean inputEOF;
    private byte[] writeJob;
    private boolean writeStarted;
    private boolean outputClosing;
    private boolean closed;
    private final CompletableFuture<Void> closedFuture = new CompletableFuture<>();
    private volatile Consumer<ByteBuffer> inspector;
    private Thread readerThread;
    private Thread writerThread;

    /**
     * @param scheduler the scheduler for the idle timeout
     * @param executor the executor on which fill interest is notified
     * @param input the stream the peer writes to; it is read only by the reader thread
     * @param output the stream the peer reads from; it is written only by the writer thread
     * @param name a name for the threads and logs, such as the vhost and pid
     */
    public PipeEndPoint(Scheduler scheduler, Executor executor, InputStream input, OutputStream output, String name)
    {
        super(scheduler);
        this.executor = executor;
        this.input = input;
        this.output = output;
        this.name = name;
        this.localAddress = new PipeSocketAddress(name, "local");
        this.remoteAddress = new PipeSocketAddress(name, "remote");
    }

    @Override
    public void onOpen()
    {
        super.onOpen();
        readerThread = new Thread(this::readLoop, "itk-pipe-reader-" + name);
        writerThread = new Thread(this::writeLoop, "itk-pipe-writer-" + name);
        readerThread.setDaemon(true);
        writerThread.setDaemon(true);
        readerThread.start();
        writerThread.start();
    }

    /**
     * @param inspector sees every chunk read, on the reader thread, before the connection does; it must not
     * block or modify the chunk
     */
    public void setInspector(Consumer<ByteBuffer> inspector)
    {
        this.inspector = inspector;
    }

    @Override
    public SocketAddress getLocalSocketAddress()
    {
        return localAddress;
    }

    @Override
    public SocketAddress getRemoteSocketAddress()
    {
        return remoteAddress;
    }

    @Override
    public Object getTransport()
    {
        return input;
    }

    @Override
    public int fill(ByteBuffer buffer) throws IOException
    {
        int filled;
        try (AutoLock.WithCondition l = readLock.lock())
        {
            if (closed)
                throw new EofException("closed");
            if (pending != null)
            {
                filled = BufferUtil.append(buffer, pending);
                if (!pending.hasRemaining())
                {
                    pending = null;
                    l.signalAll();
                }
            }
            else
            {
                filled = inputEOF ? -1 : 0;
            }
        }
        if (filled > 0)
            notIdle();
        else if (filled < 0)
            shutdownInput();
        return filled;
    }

    @Override
    protected void needsFillInterest() throws IOException
    {
        boolean ready;
        try (AutoLock ignored = readLock.lock())
        {
            if (closed)
                throw new ClosedChannelException();
            ready = pending != null || inputEOF;
        }
        if (ready)
            executor.execute(this::onFillable);
    }

    private void onFillable()
    {
        getFillInterest().fillable();
    }

    private void readLoop()
    {
        try
        {
            while (true)
            {
                int read = input.read(readChunk);
                // The inspector sees the bytes before the connection may parse them.
                Consumer<ByteBuffer> inspector = this.inspector;
                if (read > 0 && inspector != null)
                    inspector.accept(ByteBuffer.wrap(readChunk, 0, read).asReadOnlyBuffer());
                try (AutoLock.WithCondition l = readLock.lock())
                {
                    // The inspector may have closed this EndPoint: nothing more is delivered.
                    if (closed)
                        return;
                    if (read < 0)
                        inputEOF = true;
                    else if (read > 0)
                        pending = ByteBuffer.wrap(readChunk, 0, read);
                }
                if (LOG.isDebugEnabled())
                    LOG.debug("{} read {}", this, read);
                executor.execute(this::onFillable);
                if (read < 0)
                    return;
                try (AutoLock.WithCondition l = readLock.lock())
                {
                    // The chunk is shared with fill(): wait until it is consumed before reading over it.
                    while (pending != null && !closed)
                        l.await();
                    if (closed)
                        return;
                }
            }
        }
        catch (IOException | InterruptedException x)
        {
            if (LOG.isDebugEnabled())
                LOG.debug("{} read failed", this, x);
            try (AutoLock ignored = readLock.lock())
            {
                inputEOF = true;
            }
            executor.execute(this::onFillable);
        }
    }

    @Override
    public boolean flush(ByteBuffer... buffers) throws IOException
    {
        try (AutoLock ignored = writeLock.lock())
        {
            if (closed || outputClosing)
                throw new EofException("output shutdown");
            if (writeJob != null)
                return false;
            if (!hasContent(buffers))
                return true;
            // Copy now, on the caller's thread: once the write fails or the EndPoint closes, Jetty releases these
            // buffers to a pool shared with other workers' sessions, and the writer must never touch them again.
            writeJob = copy(buffers);
            // Only record the job: the writer starts in onIncompleteFlush(), once the WriteFlusher is PENDING,
            // else its completeWrite() could come first and be ignored, and the write would hang.
            return false;
        }
    }

    private static byte[] copy(ByteBuffer[] buffers)
    {
        int length = 0;
        for (ByteBuffer buffer : buffers)
        {
            length += buffer.remaining();
        }
        byte[] bytes = new byte[length];
        int offset = 0;
        for (ByteBuffer buffer : buffers)
        {
            int remaining = buffer.remaining();
            buffer.get(bytes, offset, remaining);
            offset += remaining;
        }
        return bytes;
    }

    private static boolean hasContent(ByteBuffer[] buffers)
    {
        for (ByteBuffer buffer : buffers)
        {
            if (BufferUtil.hasContent(buffer))
                return true;
        }
        return false;
    }

    @Override
    protected void onIncompleteFlush()
    {
        try (AutoLock.WithCondition l = writeLock.lock())
        {
            writeStarted = writeJob != null;
            l.signalAll();
        }
    }

    private void writeLoop()
    {
        try
        {
            while (true)
            {
                byte[] job;
                try (AutoLock.WithCondition l = writeLock.lock())
                {
                    while (!writeStarted && !outputClosing && !closed)
                        l.await();
                    if (!writeStarted)
                        break;
                    job = writeJob;
                }
                output.write(job);
                output.flush();
                try (AutoLock ignored = writeLock.lock())
                {
                    writeJob = null;
                    writeStarted = false;
                }
                notIdle();
                getWriteFlusher().completeWrite();
            }
            output.close();
        }
        catch (IOException | InterruptedException x)
        {
            if (LOG.isDebugEnabled())
                LOG.debug("{} write failed", this, x);
            try (AutoLock ignored = writeLock.lock())
            {
                outputClosing = true;
                writeJob = null;
                writeStarted = false;
            }
            IOException failure = x instanceof IOException io ? io : new InterruptedIOException();
            getWriteFlusher().onFail(failure);
            close(failure);
        }
    }

    @Override
    protected void doShutdownOutput()
    {
        // The writer closes the stream once the write in progress, if any, has completed.
        try (AutoLock.WithCondition l = writeLock.lock())
        {
            outputClosing = true;
            l.signalAll();
        }
    }

    @Override
    protected void doClose()
    {
        try (AutoLock.WithCondition l = readLock.lock())
        {
            closed = true;
            l.signalAll();
        }
        try (AutoLock.WithCondition l = writeLock.lock())
        {
            outputClosing = true;
            l.signalAll();
        }
        // Closing the input may not wake a reader blocked on a pipe; the peer's exit (EOF) does.
        closeQuietly(input);
        super.doClose();
    }

    @Override
    public void onClose(Throwable cause)
    {
        super.onClose(cause);
        closedFuture.complete(null);
    }

    /**
     * @return a future completed once this EndPoint has closed
     */
    public CompletableFuture<Void> closed()
    {
        return closedFuture;
    }

    private void closeQuietly(InputStream stream)
    {
        try
        {
            stream.close();
        }
        catch (IOException x)
        {
            LOG.trace("IGNORED", x);
        }
    }

    @Override
    public String toString()
    {
        return "%s@%x[%s]".formatted(getClass().getSimpleName(), hashCode(), name);
    }

    private static final class PipeSocketAddress extends SocketAddress
    {
        private final String text;

        private PipeSocketAddress(String name, String side)
        {
            this.text = "pipe:" + name + ":" + side;
        }

        @Override
        public String toString()
        {
            return text;
        }
    }
}
