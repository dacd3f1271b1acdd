package org.jettyitk.bench;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

/**
 * <p>A one-request HTTP/1.1 client on a plain socket, for the cold-start timings: it names any {@code Host},
 * adds nothing of its own, and its cost is a connect, a write and a read.</p>
 */
public final class RawHttp
{
    private RawHttp()
    {
    }

    /**
     * Sends {@code GET path} with {@code Connection: close} and reads the whole response.
     *
     * @return the status code
     * @throws IOException if the connection fails or the response is not HTTP
     */
    public static int get(int port, String host, String path, int timeoutMillis) throws IOException
    {
        try (Socket socket = new Socket())
        {
            socket.setSoTimeout(timeoutMillis);
            socket.connect(new InetSocketAddress("127.0.0.1", port), timeoutMillis);
            OutputStream out = socket.getOutputStream();
            out.write(("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            InputStream in = socket.getInputStream();
            byte[] response = in.readAllBytes();
            String head = new String(response, 0, Math.min(response.length, 12), StandardCharsets.ISO_8859_1);
            if (!head.startsWith("HTTP/1.1 ") || head.length() < 12)
                throw new IOException("not an HTTP response: '" + head + "'");
            return Integer.parseInt(head.substring(9, 12));
        }
    }

    /**
     * Waits until something accepts connections on the port, then sends one request.
     *
     * @return the status code of the first request that got a response
     */
    public static int getWhenListening(int port, String host, String path, long deadlineNanos) throws IOException, InterruptedException
    {
        while (true)
        {
            try
            {
                return get(port, host, path, 60_000);
            }
            catch (ConnectException x)
            {
                if (System.nanoTime() - deadlineNanos > 0)
                    throw x;
                Thread.sleep(1);
            }
        }
    }
}
