// Session 8 (compact3), BENCHMARKS.md "Defragmentation", Session 8.
// gcc -O2 -o sequences sequences.c -lm && nice -n 10 ./sequences 600 4
// The locked-instruction sequence of long evacuations around real copies, paired per repetition.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <time.h>
#include <math.h>
#define AREA (16u<<20)
#define N 56
#define M 5
static uint64_t words[64][8] __attribute__((aligned(64)));
static uint64_t lockw __attribute__((aligned(64)));
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec*1e9+t.tv_nsec;}
static inline void cas(uint64_t*w){uint64_t e=__atomic_load_n(w,__ATOMIC_RELAXED);__atomic_compare_exchange_n(w,&e,e+1,0,__ATOMIC_ACQUIRE,__ATOMIC_RELAXED);}
static inline void rel(uint64_t*w,uint64_t v){__atomic_store_n(w,v,__ATOMIC_RELEASE);}
static int cmp(const void*a,const void*b){double x=*(double*)a,y=*(double*)b;return x<y?-1:x>y;}
int main(int argc,char**argv){
  int reps = argc>1?atoi(argv[1]):200; int K = argc>2?atoi(argv[2]):4;
  char *a = aligned_alloc(4096, AREA*2); memset(a,1,AREA*2);
  size_t src[N],dst[N],len[N]; srand(1);
  for(int i=0;i<N;i++){ double l = exp(log(4096)+ (log(262144)-log(4096))*(rand()/(double)RAND_MAX)); len[i]=((size_t)l)&~7ul;
    src[i]=((size_t)rand()%(AREA-len[i]))&~7ul; dst[i]=AREA+(((size_t)rand()%(AREA-len[i]))&~7ul);}
  double *t[M]; for(int m=0;m<M;m++) t[m]=malloc(sizeof(double)*reps);
  for(int r=0;r<reps;r++) for(int mm=0;mm<M;mm++){ int mode=(mm+r)%M;
    for(size_t k=0;k<(4u<<20);k+=64) a[(k*7919)%(2*AREA)]++;
    double t0=now();
    if(mode==0) for(int i=0;i<N;i++) memcpy(a+dst[i],a+src[i],len[i]);
    if(mode==1||mode==3) for(int i=0;i<N;i++){ // one move per lock hold
      cas(&lockw); cas(words[i]); __atomic_thread_fence(__ATOMIC_SEQ_CST);
      memcpy(a+dst[i],a+src[i],len[i]);
      if(mode==1) cas(words[i]);              // commit CAS (readers win)
      rel(&words[i][1], i); rel(words[i], words[i][0]+1); rel(&lockw, lockw+1);
    }
    if(mode==2||mode==4) for(int i=0;i<N;i+=K){ int e=i+K<N?i+K:N; // K moves per lock hold
      cas(&lockw); for(int j=i;j<e;j++) cas(words[j]); __atomic_thread_fence(__ATOMIC_SEQ_CST);
      for(int j=i;j<e;j++) memcpy(a+dst[j],a+src[j],len[j]);
      for(int j=i;j<e;j++){ if(mode==2) cas(words[j]); rel(&words[j][1], j); rel(words[j], words[j][0]+1);}
      rel(&lockw, lockw+1);
    }
    t[mode][r]=now()-t0;
  }
  const char*nm[M]={"copies only","now: 1/hold, commit CAS","grouped K, commit CAS","1/hold, frozen","grouped K, frozen"};
  size_t tot=0; for(int i=0;i<N;i++) tot+=len[i];
  printf("K=%d, %d long moves, %.2f MiB, reps %d\n",K,N,tot/1048576.0,reps);
  double d[reps];
  for(int m=0;m<M;m++){ for(int r=0;r<reps;r++) d[r]=t[m][r]-t[0][r]; qsort(d,reps,sizeof(double),cmp);
    double s[reps]; memcpy(s,t[m],sizeof s); qsort(s,reps,sizeof(double),cmp);
    printf("%-26s min %7.1f us median %7.1f us | paired diff to copies: median %+6.2f us (q1 %+6.2f q3 %+6.2f) = %+5.0f ns/move\n",nm[m],s[0]/1e3,s[reps/2]/1e3,d[reps/2]/1e3,d[reps/4]/1e3,d[3*reps/4]/1e3,d[reps/2]/N);}
}
