package org.jettyitk.internal.spawner;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.jettyitk.internal.wire.WorkerArguments;

/**
 * <p>The messages between the front and its spawner, one per {@code SOCK_SEQPACKET} datagram, big-endian:</p>
 * <pre>
 * request  := VERSION type:u8 id:i32 body
 *   SPAWN  body := workDirectory:str arguments:str hasJvmOptions:u8 count:i32 option:str* count:i32 (name:str value:str)*
 *   SIGNAL body := pid:i64 signal:i32                      (SIGTERM or SIGKILL, to a worker of this spawner)
 *   OPEN_LOG   body := file:str gid:i32                    (a tenant log, in a log directory allowed before the drop)
 *   ROTATE_LOG body := file:str gid:i32                    (rename it to FILE.1, open FILE anew)
 *   ALLOW_LOG_DIRECTORY body := directory:str              (only from the front while it is root)
 * reply    := VERSION type:u8 ...
 *   SPAWNED id:i32 pid:i64                                 with SCM_RIGHTS: the worker's stdin (write end), stdout and
 *                                                          stderr (read ends)
 *   FAILED  id:i32 reason:str
 *   EXITED  pid:i64 status:i32                             status as {@link Process#exitValue()} gives it
 *   LOG_OPENED id:i32                                      with SCM_RIGHTS: the log file, open for appending
 *   DONE    id:i32                                         the request is done (ALLOW_LOG_DIRECTORY)
 * str      := length:i32 UTF-8 bytes (strict, no NUL)
 * </pre>
 * <p>Every length and count is bounded ({@link #MAX_MESSAGE}, {@link #MAX_COUNT}); a message with a byte too
 * many or too few, an unknown version or type, or a bad string is refused whole with a reason.</p>
 */
public final class SpawnerProtocol
{
    public static final byte VERSION = 1;
    public static final byte SPAWN = 1;
    public static final byte SIGNAL = 2;
    public static final byte OPEN_LOG = 3;
    public static final byte ROTATE_LOG = 4;
    public static final byte ALLOW_LOG_DIRECTORY = 5;
    public static final byte SPAWNED = 1;
    public static final byte FAILED = 2;
    public static final byte EXITED = 3;
    public static final byte LOG_OPENED = 4;
    public static final byte DONE = 5;
    /** The longest message either side accepts, in bytes. */
    public static final int MAX_MESSAGE = 64 * 1024;
    /** The most JVM options or environment variables in one request. */
    public static final int MAX_COUNT = 256;
    /** The descriptors a {@link #SPAWNED} reply carries. */
    public static final int SPAWNED_FDS = 3;
    /** The descriptors a {@link #LOG_OPENED} reply carries. */
    public static final int LOG_OPENED_FDS = 1;
    public static final int SIGTERM = 15;
    public static final int SIGKILL = 9;

    private SpawnerProtocol()
    {
    }

    /**
     * A request to start a worker.
     *
     * @param arguments the worker's arguments, its vhost's JVM options and environment included
     * @param workDirectory the worker's {@code HOME}
     */
    public record Spawn(int id, WorkerArguments arguments, String workDirectory)
    {
    }

    /**
     * A request to signal a worker's process group.
     */
    public record Signal(int id, long pid, int signal)
    {
    }

    /**
     * A request to open a tenant log for appending ({@link #OPEN_LOG}), or to rotate it first ({@link #ROTATE_LOG}).
     *
     * @param file the log file's absolute path
     * @param gid the group the file gets: its tenant's
     */
    public record LogRequest(int id, byte type, String file, int gid)
    {
    }

    /**
     * A request to allow tenant logs in a directory, from the front while it is still root.
     */
    public record AllowLogDirectory(int id, String directory)
    {
    }

    public static byte[] encodeSpawn(int id, WorkerArguments arguments, String workDirectory)
    {
        return write(out ->
        {
            out.writeByte(VERSION);
            out.writeByte(SPAWN);
            out.writeInt(id);
            writeString(out, workDirectory);
            writeString(out, arguments.encode());
            List<String> options = arguments.jvmOptions();
            out.writeByte(options == null ? 0 : 1);
            out.writeInt(options == null ? 0 : options.size());
            for (String option : options == null ? List.<String>of() : options)
            {
                writeString(out, option);
            }
            out.writeInt(arguments.environment().size());
            for (Map.Entry<String, String> entry : arguments.environment().entrySet())
            {
                writeString(out, entry.getKey());
                writeString(out, entry.getValue());
            }
        });
    }

    public static byte[] encodeSignal(int id, long pid, int signal)
    {
        return write(out ->
        {
            out.writeByte(VERSION);
            out.writeByte(SIGNAL);
            out.writeInt(id);
            out.writeLong(pid);
            out.writeInt(signal);
        });
    }

    /**
     * @param type {@link #OPEN_LOG} or {@link #ROTATE_LOG}
     */
    public static byte[] encodeLogRequest(int id, byte type, String file, int gid)
    {
        if (type != OPEN_LOG && type != ROTATE_LOG)
            throw new IllegalArgumentException("not a log request type: " + type);
        return write(out ->
        {
            out.writeByte(VERSION);
            out.writeByte(type);
            out.writeInt(id);
            writeString(out, file);
            out.writeInt(gid);
        });
    }

    public static byte[] encodeAllowLogDirectory(int id, String directory)
    {
        return write(out ->
        {
            out.writeByte(VERSION);
            out.writeByte(ALLOW_LOG_DIRECTORY);
            out.writeInt(id);
            writeString(out, directory);
        });
    }

    public static byte[] encodeLogOpened(int id)
    {
        return write(out ->
        {
            out.writeByte(VERSION);
            out.writeByte(LOG_OPENED);
            out.writeInt(id);
        });
    }

    public static byte[] encodeDone(int id)
    {
        return write(out ->
        {
            out.writeByte(VERSION);
            out.writeByte(DONE);
            out.writeInt(id);
        });
    }

    public static byte[] encodeSpawned(int id, long pid)
    {
        return write(out ->
        {
            out.writeByte(VERSION);
            out.writeByte(SPAWNED);
            out.writeInt(id);
            out.writeLong(pid);
        });
    }

    public static byte[] encodeFailed(int id, String reason)
    {
        String bounded = reason.length() > 1024 ? reason.substring(0, 1024) : reason;
        return write(out ->
        {
            out.writeByte(VERSION);
            out.writeByte(FAILED);
            out.writeInt(id);
            writeString(out, bounded.replace('\0', '?'));
        });
    }

    public static byte[] encodeExited(long pid, int status)
    {
        return write(out ->
        {
            out.writeByte(VERSION);
            out.writeByte(EXITED);
            out.writeLong(pid);
            out.writeInt(status);
        });
    }

    /**
     * @return a {@link Spawn}, a {@link Signal}, a {@link LogRequest} or an {@link AllowLogDirectory}
     * @throws IllegalArgumentException saying what is wrong with the message
     */
    public static Object decodeRequest(byte[] message)
    {
        try
        {
            return readRequest(message);
        }
        catch (BufferUnderflowException x)
        {
            throw new IllegalArgumentException("message ends early");
        }
    }

    private static Object readRequest(byte[] message)
    {
        Reader in = new Reader(message);
        in.version();
        byte type = in.buffer.get();
        int id = in.buffer.getInt();
        Object request;
        switch (type)
        {
            case SPAWN ->
            {
                String workDirectory = in.string();
                WorkerArguments encoded = WorkerArguments.decode(in.string());
                byte hasOptions = in.buffer.get();
                if (hasOptions != 0 && hasOptions != 1)
                    throw new IllegalArgumentException("bad JVM options flag " + hasOptions);
                int count = in.count();
                if (hasOptions == 0 && count != 0)
                    throw new IllegalArgumentException("JVM options without the flag");
                List<String> options = new ArrayList<>();
                for (int i = 0; i < count; i++)
                {
                    options.add(in.string());
                }
                int variables = in.count();
                Map<String, String> environment = new LinkedHashMap<>();
                for (int i = 0; i < variables; i++)
                {
                    String name = in.string();
                    if (environment.put(name, in.string()) != null)
                        throw new IllegalArgumentException("environment variable " + name + " twice");
                }
                WorkerArguments arguments = new WorkerArguments(encoded.vhost(), encoded.identity(), encoded.app(), encoded.handlerClass(), encoded.umask(),
                    encoded.limits(), hasOptions == 1 ? options : null, environment, encoded.deploySettings());
                request = new Spawn(id, arguments, workDirectory);
            }
            case SIGNAL -> request = new Signal(id, in.buffer.getLong(), in.buffer.getInt());
            case OPEN_LOG, ROTATE_LOG -> request = new LogRequest(id, type, in.string(), in.buffer.getInt());
            case ALLOW_LOG_DIRECTORY -> request = new AllowLogDirectory(id, in.string());
            default -> throw new IllegalArgumentException("unknown request type " + type);
        }
        in.end();
        return request;
    }

    /**
     * A reply as the front reads it.
     *
     * @param type {@link #SPAWNED}, {@link #FAILED}, {@link #EXITED}, {@link #LOG_OPENED} or {@link #DONE}
     * @param id the request's id, for {@link #SPAWNED}, {@link #FAILED}, {@link #LOG_OPENED} and {@link #DONE}
     * @param pid the worker's pid, for {@link #SPAWNED} and {@link #EXITED}
     * @param status the exit status, for {@link #EXITED}
     * @param reason why, for {@link #FAILED}
     */
    public record Reply(byte type, int id, long pid, int status, String reason)
    {
    }

    /**
     * @throws IllegalArgumentException saying what is wrong with the message
     */
    public static Reply decodeReply(byte[] message)
    {
        try
        {
            return readReply(message);
        }
        catch (BufferUnderflowException x)
        {
            throw new IllegalArgumentException("reply ends early");
        }
    }

    private static Reply readReply(byte[] message)
    {
        Reader in = new Reader(message);
        in.version();
        byte type = in.buffer.get();
        Reply reply = switch (type)
        {
            case SPAWNED -> new Reply(type, in.buffer.getInt(), in.buffer.getLong(), 0, null);
            case FAILED -> new Reply(type, in.buffer.getInt(), 0, 0, in.string());
            case EXITED -> new Reply(type, 0, in.buffer.getLong(), in.buffer.getInt(), null);
            case LOG_OPENED, DONE -> new Reply(type, in.buffer.getInt(), 0, 0, null);
            default -> throw new IllegalArgumentException("unknown reply type " + type);
        };
        in.end();
        return reply;
    }

    private static void writeString(DataOutputStream out, String value) throws IOException
    {
        byte[] bytes = value.getBytes(StandardCharsets.UTF_8);
        out.writeInt(bytes.length);
        out.write(bytes);
    }

    private interface Writer
    {
        void write(DataOutputStream out) throws IOException;
    }

    private static byte[] write(Writer writer)
    {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(bytes))
        {
            writer.write(out);
        }
        catch (IOException x)
        {
            throw new UncheckedIOException(x);
        }
        if (bytes.size() > MAX_MESSAGE)
            throw new IllegalArgumentException("spawner message of " + bytes.size() + " bytes, more than " + MAX_MESSAGE);
        return bytes.toByteArray();
    }

    private static final class Reader
    {
        private final ByteBuffer buffer;

        private Reader(byte[] message)
        {
            if (message.length > MAX_MESSAGE)
                throw new IllegalArgumentException("message of " + message.length + " bytes, more than " + MAX_MESSAGE);
            buffer = ByteBuffer.wrap(message);
        }

        private void version()
        {
            byte version = get();
            if (version != VERSION)
                throw new IllegalArgumentException("unknown version " + version);
        }

        private byte get()
        {
            try
            {
                return buffer.get();
            }
            catch (BufferUnderflowException x)
            {
                throw new IllegalArgumentException("empty message");
            }
        }

        private int count()
        {
            int count = buffer.getInt();
            if (count < 0 || count > MAX_COUNT)
                throw new IllegalArgumentException("count " + count + " out of 0.." + MAX_COUNT);
            return count;
        }

        private String string()
        {
            int length = buffer.getInt();
            if (length < 0 || length > buffer.remaining())
                throw new IllegalArgumentException("string length " + length + " with " + buffer.remaining() + " bytes left");
            ByteBuffer slice = buffer.slice(buffer.position(), length);
            buffer.position(buffer.position() + length);
            CharBuffer chars;
            try
            {
                chars = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(slice);
            }
            catch (CharacterCodingException x)
            {
                throw new IllegalArgumentException("string that is not UTF-8");
            }
            String value = chars.toString();
            if (value.indexOf('\0') >= 0)
                throw new IllegalArgumentException("string with a NUL");
            return value;
        }

        private void end()
        {
            if (buffer.hasRemaining())
                throw new IllegalArgumentException(buffer.remaining() + " bytes after the end of the message");
        }
    }
}
