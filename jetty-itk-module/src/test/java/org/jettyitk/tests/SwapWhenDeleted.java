package org.jettyitk.tests;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;

/**
 * <p>A tenant's process waiting for someone to delete its tree: once the file {@code SENTINEL} of {@code DIRECTORY}
 * is gone, it swaps the directories {@code d0..dN-1} there for symbolic links to {@code VICTIM}
 * ({@code mv dK eK; ln -s VICTIM dK}), prints {@code swapped} and exits. A deleter that listed the tree before
 * and deletes by path from then on deletes the victim's files. Prints {@code watching} once started. Run as the
 * tenant through {@link Tenant}.</p>
 * <pre>{@code java -cp test-classes org.jettyitk.tests.SwapWhenDeleted DIRECTORY SENTINEL VICTIM N}</pre>
 */
public final class SwapWhenDeleted
{
    private SwapWhenDeleted()
    {
    }

    public static void main(String[] args) throws IOException
    {
        Path directory = Path.of(args[0]);
        Path sentinel = directory.resolve(args[1]);
        Path victim = Path.of(args[2]);
        int count = Integer.parseInt(args[3]);
        System.out.println("watching");
        System.out.flush();
        while (Files.exists(sentinel, LinkOption.NOFOLLOW_LINKS))
        {
            Thread.onSpinWait();
        }
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
                // Deleted meanwhile.
            }
        }
        System.out.println("swapped");
    }
}
