package org.jettyitk.internal.front;

import java.io.ByteArrayOutputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Random;

/**
 * <p>Mutates what a worker writes, after its first frame (the SETTINGS that make it ready): each
 * {@link Plan} flips, inserts, deletes or duplicates bytes at offsets counted from the first byte written after
 * the plan was armed. Many workers may share one {@link Mutator}; each applies the armed plan once, from its own
 * position in its own stream.</p>
 * <p>Only the worker's writer thread calls {@link #write(byte[], int, int)}.</p>
 */
public class MutatingOutputStream extends FilterOutputStream
{
    public enum Kind
    {
        FLIP, INSERT, DELETE, DUPLICATE
    }

    /**
     * One mutation: at {@code offset}, FLIP xors the byte with {@code bytes[0]}; INSERT writes {@code bytes} before
     * it; DELETE drops {@code count} bytes; DUPLICATE writes it {@code count} more times.
     */
    public record Mutation(int offset, Kind kind, int count, byte[] bytes)
    {
        @Override
        public String toString()
        {
            return switch (kind)
            {
                case FLIP -> "flip@" + offset + "^0x" + Integer.toHexString(bytes[0] & 0xFF);
                case INSERT -> "insert@" + offset + "x" + bytes.length;
                case DELETE -> "delete@" + offset + "x" + count;
                case DUPLICATE -> "duplicate@" + offset + "x" + count;
            };
        }
    }

    /**
     * The mutations of one iteration, sorted by offset.
     */
    public static final class Plan
    {
        private final List<Mutation> mutations;

        public Plan(List<Mutation> mutations)
        {
            this.mutations = mutations.stream().sorted(Comparator.comparingInt(Mutation::offset)).toList();
        }

        /**
         * @param random the source of the mutations, seeded by the caller
         * @param span mutations fall in the first {@code span} bytes after arming
         * @return one to three random mutations
         */
        public static Plan random(Random random, int span)
        {
            List<Mutation> mutations = new ArrayList<>();
            int count = 1 + random.nextInt(3);
            for (int i = 0; i < count; i++)
            {
                int offset = random.nextInt(span);
                Kind kind = Kind.values()[random.nextInt(Kind.values().length)];
                mutations.add(switch (kind)
                {
                    case FLIP -> new Mutation(offset, kind, 1, new byte[]{(byte)(1 + random.nextInt(255))});
                    case INSERT ->
                    {
                        byte[] bytes = new byte[1 + random.nextInt(4)];
                        random.nextBytes(bytes);
                        yield new Mutation(offset, kind, bytes.length, bytes);
                    }
                    case DELETE -> new Mutation(offset, kind, 1 + random.nextInt(4), new byte[0]);
                    case DUPLICATE -> new Mutation(offset, kind, 1 + random.nextInt(3), new byte[0]);
                });
            }
            return new Plan(mutations);
        }

        private Mutation at(long offset)
        {
            for (Mutation mutation : mutations)
            {
                if (mutation.offset() == offset)
                    return mutation;
            }
            return null;
        }

        @Override
        public String toString()
        {
            return mutations.toString();
        }
    }

    /**
     * The plan currently armed, shared by the workers it applies to.
     */
    public static final class Mutator
    {
        private volatile Plan plan;

        public void arm(Plan plan)
        {
            this.plan = plan;
        }

        public void disarm()
        {
            this.plan = null;
        }
    }

    private final Mutator mutator;
    private final byte[] firstLength = new byte[3];
    private long position;
    private long firstFrameEnd = -1;
    private Plan applied;
    private long base;
    private int skip;

    public MutatingOutputStream(OutputStream out, Mutator mutator)
    {
        super(out);
        this.mutator = mutator;
    }

    @Override
    public void write(int b) throws IOException
    {
        write(new byte[]{(byte)b}, 0, 1);
    }

    @Override
    public void write(byte[] bytes, int offset, int length) throws IOException
    {
        ByteArrayOutputStream mutated = new ByteArrayOutputStream(length + 16);
        for (int i = 0; i < length; i++)
        {
            mutate(bytes[offset + i], mutated);
        }
        // One write per write, so the pipe sees the worker's own write boundaries.
        out.write(mutated.toByteArray());
    }

    private void mutate(byte b, ByteArrayOutputStream mutated)
    {
        long p = position++;
        if (p < firstLength.length)
        {
            firstLength[(int)p] = b;
            if (p == firstLength.length - 1)
                firstFrameEnd = 9 + ((firstLength[0] & 0xFF) << 16 | (firstLength[1] & 0xFF) << 8 | (firstLength[2] & 0xFF));
        }
        Plan plan = mutator.plan;
        if (firstFrameEnd < 0 || p < firstFrameEnd || plan == null)
        {
            mutated.write(b);
            return;
        }
        if (plan != applied)
        {
            applied = plan;
            base = p;
            skip = 0;
        }
        if (skip > 0)
        {
            skip--;
            return;
        }
        Mutation mutation = plan.at(p - base);
        if (mutation == null)
        {
            mutated.write(b);
            return;
        }
        switch (mutation.kind())
        {
            case FLIP -> mutated.write(b ^ mutation.bytes()[0]);
            case INSERT ->
            {
                mutated.writeBytes(mutation.bytes());
                mutated.write(b);
            }
            case DELETE -> skip = mutation.count() - 1;
            case DUPLICATE ->
            {
                for (int i = 0; i <= mutation.count(); i++)
                {
                    mutated.write(b);
                }
            }
        }
    }
}
