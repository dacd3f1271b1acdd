package org.jettyitk.internal.pipe;

import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * <p>Hand-written HTTP/2 frames (RFC 9113) and HPACK header blocks (RFC 7541) for tests that play a peer, well
 * behaved or hostile, byte by byte. Nothing here validates: the point is to write what a broken peer writes.</p>
 * <pre>
 *   +-----------------------------------------------+
 *   |                 Length (24)                   |
 *   +---------------+---------------+---------------+
 *   |   Type (8)    |   Flags (8)   |
 *   +-+-------------+---------------+-------------------------------+
 *   |R|                 Stream Identifier (31)                      |
 *   +=+=============================================================+
 *   |                   Frame Payload (0...)                      ...
 *   +---------------------------------------------------------------+
 * </pre>
 */
public final class Http2Frames
{
    public static final int HEADER_LENGTH = 9;
    public static final byte[] CLIENT_PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.US_ASCII);

    public static final int DATA = 0x0;
    public static final int HEADERS = 0x1;
    public static final int PRIORITY = 0x2;
    public static final int RST_STREAM = 0x3;
    public static final int SETTINGS = 0x4;
    public static final int PUSH_PROMISE = 0x5;
    public static final int PING = 0x6;
    public static final int GOAWAY = 0x7;
    public static final int WINDOW_UPDATE = 0x8;
    public static final int CONTINUATION = 0x9;
    public static final int SETTINGS_INITIAL_WINDOW_SIZE = 0x4;

    public static final int FLAG_END_STREAM = 0x1;
    public static final int FLAG_ACK = 0x1;
    public static final int FLAG_END_HEADERS = 0x4;

    private Http2Frames()
    {
    }

    /**
     * @return a frame whose length field is the payload's length
     */
    public static byte[] frame(int type, int flags, int streamId, byte[] payload)
    {
        return frame(payload.length, type, flags, streamId, payload);
    }

    /**
     * @param length the length field, which a hostile peer may set to anything, whatever the payload
     * @return the 9-byte header followed by the payload
     */
    public static byte[] frame(int length, int type, int flags, int streamId, byte[] payload)
    {
        ByteBuffer frame = ByteBuffer.allocate(HEADER_LENGTH + payload.length);
        frame.put((byte)(length >>> 16));     // length, 24 bits, big endian
        frame.put((byte)(length >>> 8));
        frame.put((byte)length);
        frame.put((byte)type);                // type
        frame.put((byte)flags);               // flags
        frame.putInt(streamId & 0x7FFFFFFF);  // reserved bit 0, then the 31-bit stream id
        frame.put(payload);                   // payload
        return frame.array();
    }

    /**
     * @return an empty SETTINGS frame: "use the defaults", and the front's sign that the worker is ready
     */
    public static byte[] settings()
    {
        return frame(SETTINGS, 0, 0, new byte[0]);
    }

    /**
     * @return a SETTINGS frame with one setting
     */
    public static byte[] settings(int id, int value)
    {
        return frame(SETTINGS, 0, 0, ByteBuffer.allocate(6).putShort((short)id).putInt(value).array());  // 16-bit id, 32-bit value
    }

    public static byte[] windowUpdate(int streamId, int increment)
    {
        return frame(WINDOW_UPDATE, 0, streamId, ByteBuffer.allocate(4).putInt(increment & 0x7FFFFFFF).array());  // reserved bit 0, 31-bit increment
    }

    public static byte[] rstStream(int streamId, int errorCode)
    {
        return frame(RST_STREAM, 0, streamId, ByteBuffer.allocate(4).putInt(errorCode).array());  // 32-bit error code
    }

    public static byte[] settingsAck()
    {
        return frame(SETTINGS, FLAG_ACK, 0, new byte[0]);
    }

    public static byte[] ping(long payload)
    {
        return frame(PING, 0, 0, ByteBuffer.allocate(8).putLong(payload).array());  // 8 opaque bytes
    }

    public static byte[] data(int streamId, byte[] content, boolean endStream)
    {
        return frame(DATA, endStream ? FLAG_END_STREAM : 0, streamId, content);
    }

    /**
     * @return a HEADERS frame carrying the whole header block (END_HEADERS set)
     */
    public static byte[] headers(int streamId, byte[] headerBlock, boolean endStream)
    {
        return frame(HEADERS, FLAG_END_HEADERS | (endStream ? FLAG_END_STREAM : 0), streamId, headerBlock);
    }

    /**
     * @return a PUSH_PROMISE frame on a stream, promising another one
     */
    public static byte[] pushPromise(int streamId, int promisedStreamId, byte[] headerBlock)
    {
        ByteBuffer payload = ByteBuffer.allocate(4 + headerBlock.length);
        payload.putInt(promisedStreamId & 0x7FFFFFFF);  // reserved bit 0, promised stream id
        payload.put(headerBlock);                       // the promised request's header block
        return frame(PUSH_PROMISE, FLAG_END_HEADERS, streamId, payload.array());
    }

    /**
     * @return {@code :status} as a literal header field without indexing, with the static table's name 8
     */
    public static byte[] status(String value)
    {
        byte[] bytes = value.getBytes(StandardCharsets.ISO_8859_1);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(0x08);              // 0000 1000: literal without indexing, indexed name 8 (":status")
        writeLength(out, bytes.length);  // H=0 (no Huffman), value length, 7-bit prefix
        out.writeBytes(bytes);        // value
        return out.toByteArray();
    }

    /**
     * @return a literal header field without indexing, with a new name: any bytes at all in name and value
     */
    public static byte[] literal(String name, byte[] value)
    {
        byte[] nameBytes = name.getBytes(StandardCharsets.ISO_8859_1);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(0x00);                 // 0000 0000: literal without indexing, new name
        writeLength(out, nameBytes.length);  // H=0, name length, 7-bit prefix
        out.writeBytes(nameBytes);       // name
        writeLength(out, value.length);  // H=0, value length, 7-bit prefix
        out.writeBytes(value);           // value
        return out.toByteArray();
    }

    public static byte[] literal(String name, String value)
    {
        return literal(name, value.getBytes(StandardCharsets.ISO_8859_1));
    }

    /**
     * @return the header block of a GET request for {@code http://pipe/}, all from the static table
     */
    public static byte[] getRequestBlock()
    {
        return concat(
            new byte[]{(byte)0x82},  // indexed 2: ":method: GET"
            new byte[]{(byte)0x86},  // indexed 6: ":scheme: http"
            new byte[]{(byte)0x84},  // indexed 4: ":path: /"
            literal(":authority", "pipe"));
    }

    private static void writeLength(ByteArrayOutputStream out, int length)
    {
        if (length >= 127)
            throw new IllegalArgumentException("only 7-bit lengths: " + length);
        out.write(length);
    }

    public static byte[] concat(byte[]... parts)
    {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] part : parts)
        {
            out.writeBytes(part);
        }
        return out.toByteArray();
    }

    /**
     * One frame as read from a peer.
     */
    public record Frame(int type, int flags, int streamId, byte[] payload)
    {
        public boolean hasFlag(int flag)
        {
            return (flags & flag) != 0;
        }

        @Override
        public String toString()
        {
            return "Frame[type=%d,flags=0x%x,stream=%d,length=%d]".formatted(type, flags, streamId, payload.length);
        }
    }

    /**
     * Reads the client preface, if {@code preface}, then frames, blocking; returns null at EOF between frames.
     */
    public static final class Reader
    {
        private final InputStream input;
        private boolean preface;

        public Reader(InputStream input, boolean preface)
        {
            this.input = input;
            this.preface = preface;
        }

        public Frame next() throws IOException
        {
            if (preface)
            {
                byte[] bytes = readFully(CLIENT_PREFACE.length, true);
                if (bytes == null)
                    return null;
                if (!Arrays.equals(bytes, CLIENT_PREFACE))
                    throw new IOException("bad client preface");
                preface = false;
            }
            byte[] header = readFully(HEADER_LENGTH, true);
            if (header == null)
                return null;
            ByteBuffer buffer = ByteBuffer.wrap(header);
            int length = (buffer.get() & 0xFF) << 16 | (buffer.get() & 0xFF) << 8 | (buffer.get() & 0xFF);
            int type = buffer.get() & 0xFF;
            int flags = buffer.get() & 0xFF;
            int streamId = buffer.getInt() & 0x7FFFFFFF;
            return new Frame(type, flags, streamId, readFully(length, false));
        }

        private byte[] readFully(int length, boolean eofAllowed) throws IOException
        {
            byte[] bytes = new byte[length];
            int offset = 0;
            while (offset < length)
            {
                int read = input.read(bytes, offset, length - offset);
                if (read < 0)
                {
                    if (offset == 0 && eofAllowed)
                        return null;
                    throw new EOFException("EOF after " + offset + " of " + length + " bytes");
                }
                offset += read;
            }
            return bytes;
        }
    }
}
