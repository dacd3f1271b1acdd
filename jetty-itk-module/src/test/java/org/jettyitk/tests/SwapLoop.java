package org.jettyitk.tests;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;

/**
 * <p>A tenant's process that, until killed, swaps the directories {@code d0..dN-1} of a directory for symbolic
 * links to a victim directory ({@code mv dK eK; ln -s VICTIM dK}), waits a millisecond, swaps them back
 * ({@code rm dK; mv eK dK}), waits a millisecond, and so on: a tree walked in between finds each {@code dK} as a
 * directory or a link, rarely missing. Prints {@code swapping} once started. Run as the tenant through
 * {@link Tenant}.</p>
 * <pre>{@code java -cp test-classes org.jettyitk.tests.SwapLoop DIRECTORY VICTIM N}</pre>
 */
public final class SwapLoop
{
    private SwapLoop()
    {
    }

    private static void pause()
    {
        try
        {
            Thread.sleep(1);
        }
        catch (InterruptedException x)
        {
            Thread.currentThread().interrupt();
        }
    }

    public static void main(String[] args)
    {
        Path directory = Path.of(args[0]);
        Path victim = Path.of(args[1]);
        int count = Integer.parseInt(args[2]);
        System.out.println("swapping");
        System.out.flush();
        while (true)
        {
            for (int k = 0; k < count; k++)
            {
                Path d = directory.resolve("d" + k);
                try
                {
                    Files.move(d, directory.resolve("e" + k));
                    Files.createSymbolicLink(d, victim);
                }
                catch (IOException x)
                {
                    // Someone deletes the tree meanwhile: the next round puts back what it can.
                }
            }
            pause();
            for (int k = 0; k < count; k++)
            {
                Path d = directory.resolve("d" + k);
                Path e = directory.resolve("e" + k);
                try
                {
                    if (Files.isSymbolicLink(d))
                        Files.delete(d);
                    if (Files.isDirectory(e, LinkOption.NOFOLLOW_LINKS))
                        Files.move(e, d);
                }
                catch (IOException x)
                {
                    // As above.
                }
            }
            pause();
        }
    }
}
