package org.jettyitk.internal.posix;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteOrder;
import java.util.List;
import java.util.OptionalInt;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * <p>{@link SocketOwners} finds the uid of a connection's client end in the kernel's tables: connections made here
 * between sockets of this JVM, whose uid is the test's.</p>
 */
public class SocketOwnersTest
{
    @ParameterizedTest
    @ValueSource(strings = {"127.0.0.1", "::1", "0.0.0.0"})
    public void testClientOfLoopbackConnectionIsThisProcessesUid(String bind) throws Exception
    {
        InetAddress address = InetAddress.getByName(bind);
        ServerSocket server;
        try
        {
            server = new ServerSocket(0, 1, address);
        }
        catch (IOException x)
        {
            Assumptions.abort("cannot listen on " + bind + ": " + x);
            return;
        }
        try (server;
             Socket client = new Socket(address.isAnyLocalAddress() ? InetAddress.getByName("127.0.0.1") : address, server.getLocalPort());
             Socket accepted = server.accept())
        {
            // As the front sees them: its peer's address and its own.
            InetSocketAddress peer = (InetSocketAddress)accepted.getRemoteSocketAddress();
            InetSocketAddress local = (InetSocketAddress)accepted.getLocalSocketAddress();

            assertEquals(OptionalInt.of(Posix.get().geteuid()), SocketOwners.uidOf(peer, local), () -> peer + " -> " + local);
            // The server's end is no client of the client.
            assertEquals(OptionalInt.of(Posix.get().geteuid()), SocketOwners.uidOf(local, peer));
            assertEquals(OptionalInt.empty(), SocketOwners.uidOf(new InetSocketAddress(peer.getAddress(), peer.getPort() == 1 ? 2 : 1), local));
        }
    }

    @Test
    public void testUnknownConnectionHasNoOwner() throws Exception
    {
        InetSocketAddress elsewhere = new InetSocketAddress(InetAddress.getByAddress(new byte[]{(byte)203, 0, 113, 7}), 40000);
        InetSocketAddress local = new InetSocketAddress(InetAddress.getByAddress(new byte[]{127, 0, 0, 1}), 1);

        assertEquals(OptionalInt.empty(), SocketOwners.uidOf(elsewhere, local));
        assertEquals(OptionalInt.empty(), SocketOwners.uidOf(InetSocketAddress.createUnresolved("localhost", 1), local));
    }

    @Test
    public void testKeysAreTheKernelsHexWords() throws Exception
    {
        Assumptions.assumeTrue(ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN, "the expected words are those of a little-endian machine");
        InetAddress loopback = InetAddress.getByAddress(new byte[]{127, 0, 0, 1});

        assertEquals(List.of("0100007F:1F90", "0000000000000000FFFF00000100007F:1F90"), SocketOwners.keys(loopback, 8080));
        assertEquals(List.of("00000000000000000000000001000000:0050"), SocketOwners.keys(InetAddress.getByName("::1"), 80));
    }
}
